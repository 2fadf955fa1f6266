L edit gated gated-0000-00 x1=11 --store sqlite:///multi.db
