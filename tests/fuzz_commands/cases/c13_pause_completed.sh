L pause branin-rf --store sqlite:///multi.db
