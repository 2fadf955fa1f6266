L ask branin-rf --store sqlite:///multi.db
