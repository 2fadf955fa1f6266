L export branin-rf --store sqlite:///multi.db > /dev/full
