L export "%" --store sqlite:///multi.db
