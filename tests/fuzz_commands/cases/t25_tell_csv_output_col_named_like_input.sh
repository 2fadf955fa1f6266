printf 'id,yield_pct,temperature_C\nhand-0000-01,5,999\n' > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
