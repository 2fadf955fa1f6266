L import hand nofile.csv --store sqlite:///multi.db
