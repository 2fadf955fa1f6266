L tell hand hand-0000-01 "" --store sqlite:///multi.db
