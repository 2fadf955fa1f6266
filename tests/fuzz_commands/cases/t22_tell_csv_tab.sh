printf 'id\tyield_pct\nhand-0000-01\t5\n' > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
