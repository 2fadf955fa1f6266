printf 'id,yield_pct\r\nhand-0000-01,5\r\nhand-0000-02,6\r\n' > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
