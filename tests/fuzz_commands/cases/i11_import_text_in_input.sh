printf 'temperature_C,time_min,yield_pct\nhot,20,30\n' > d.csv
L import hand d.csv --store sqlite:///multi.db
