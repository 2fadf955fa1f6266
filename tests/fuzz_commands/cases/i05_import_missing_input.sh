printf 'temperature_C,yield_pct\n50,20\n' > d.csv
L import hand d.csv --store sqlite:///multi.db
