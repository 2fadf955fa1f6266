L stop branin-rf --store sqlite:///multi.db
