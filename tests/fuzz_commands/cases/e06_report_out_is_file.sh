echo hi > rep
L report branin-rf --store sqlite:///multi.db --out rep
