L extend hand --budget -5 --store sqlite:///multi.db
