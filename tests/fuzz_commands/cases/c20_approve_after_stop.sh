L stop gated --store sqlite:///multi.db >/dev/null
L approve gated gated-0000-00 --store sqlite:///multi.db
