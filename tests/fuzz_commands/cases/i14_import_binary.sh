junk 5000 > d.csv
L import hand d.csv --store sqlite:///multi.db
