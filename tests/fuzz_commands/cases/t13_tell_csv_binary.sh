junk 3000 > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
