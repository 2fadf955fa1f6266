printf 'id,yield_pct\nhand-0000-01,５\n' > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
