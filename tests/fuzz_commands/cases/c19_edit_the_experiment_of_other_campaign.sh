L edit gated hand-0000-01 x1=1 --store sqlite:///multi.db
