L edit gated gated-0000-00 x1=1e400 --store sqlite:///multi.db
