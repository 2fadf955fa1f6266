L extend hand --budget 3000000000 --store sqlite:///multi.db
