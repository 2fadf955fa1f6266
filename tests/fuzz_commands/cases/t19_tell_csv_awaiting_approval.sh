printf 'id,value\ngated-0000-00,5\n' > r.csv
L tell gated --csv r.csv --store sqlite:///multi.db
