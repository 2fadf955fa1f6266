echo hi > f
L report branin-rf --store sqlite:///multi.db --out f/sub
