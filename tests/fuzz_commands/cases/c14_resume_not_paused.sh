L resume branin-rf --store sqlite:///multi.db
