L edit gated gated-0000-00 x1=nan --store sqlite:///multi.db
