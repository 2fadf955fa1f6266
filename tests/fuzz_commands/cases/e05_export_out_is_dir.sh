mkdir o
L export branin-rf --store sqlite:///multi.db --out o
