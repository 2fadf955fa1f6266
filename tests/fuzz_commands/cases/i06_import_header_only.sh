printf 'temperature_C,time_min,yield_pct\n' > d.csv
L import hand d.csv --store sqlite:///multi.db
