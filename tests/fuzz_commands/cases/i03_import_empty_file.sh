: > d.csv
L import hand d.csv --store sqlite:///multi.db
