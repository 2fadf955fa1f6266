printf 'id,yield_pct,note\nhand-0000-01,5,"two\nlines"\n' > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
