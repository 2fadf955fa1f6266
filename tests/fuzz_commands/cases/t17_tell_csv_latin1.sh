printf 'id,yield_pct,operator\nhand-0000-01,5,Jos\xe9\n' > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
