L extend hand --budget 100000000000000000000000 --store sqlite:///multi.db
