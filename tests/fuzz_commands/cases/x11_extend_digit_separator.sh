L extend hand --budget 1_000 --store sqlite:///multi.db
