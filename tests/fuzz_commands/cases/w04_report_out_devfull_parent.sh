L report branin-rf --store sqlite:///multi.db --out /dev/full/rep
