L export branin-rf --store sqlite:///multi.db --format JSON --out x.json
