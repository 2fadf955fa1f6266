L tell hand hand-0000-01 1e-400 --store sqlite:///multi.db
