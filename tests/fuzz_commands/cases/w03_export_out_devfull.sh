L export branin-rf --store sqlite:///multi.db --out /dev/full
