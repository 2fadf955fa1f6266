L tell hand hand-0000-01 1e999 --store sqlite:///multi.db
