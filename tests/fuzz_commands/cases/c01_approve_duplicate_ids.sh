L approve gated gated-0000-00 gated-0000-00 --store sqlite:///multi.db
