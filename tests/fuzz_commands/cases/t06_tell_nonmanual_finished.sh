L tell branin-rf branin-rf-0000-00 5 --store sqlite:///multi.db
