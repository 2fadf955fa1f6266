L edit gated gated-0000-00 "x1=５" --store sqlite:///multi.db
