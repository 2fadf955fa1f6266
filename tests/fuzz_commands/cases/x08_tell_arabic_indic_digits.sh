L tell hand hand-0000-01 "١٢" --store sqlite:///multi.db
