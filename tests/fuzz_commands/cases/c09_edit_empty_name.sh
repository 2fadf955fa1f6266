L edit gated gated-0000-00 =5 --store sqlite:///multi.db
