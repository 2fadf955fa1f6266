L reject gated gated-0000-00 --store sqlite:///multi.db >/dev/null
L reject gated gated-0000-00 --store sqlite:///multi.db
