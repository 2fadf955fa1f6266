L extend branin-rf --budget 3 --store sqlite:///multi.db
