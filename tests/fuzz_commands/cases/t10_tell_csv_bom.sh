printf '\xef\xbb\xbfid,yield_pct\nhand-0000-01,5\n' > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
