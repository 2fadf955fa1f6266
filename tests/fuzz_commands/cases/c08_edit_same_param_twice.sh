L edit gated gated-0000-00 x1=1 x1=2 --store sqlite:///multi.db
