L resume hand --store sqlite:///multi.db
