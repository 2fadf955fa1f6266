L edit gated gated-0000-00 x1 --store sqlite:///multi.db
