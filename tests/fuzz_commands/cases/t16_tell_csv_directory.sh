mkdir d.csv
L tell hand --csv d.csv --store sqlite:///multi.db
