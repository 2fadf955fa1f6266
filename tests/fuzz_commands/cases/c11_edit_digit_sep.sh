L edit gated gated-0000-00 x1=1_0 --store sqlite:///multi.db
