L approve hand --store sqlite:///multi.db
