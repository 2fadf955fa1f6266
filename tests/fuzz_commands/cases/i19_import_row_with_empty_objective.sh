printf 'temperature_C,time_min,yield_pct\n50,20,30\n60,25,\n' > d.csv
L import hand d.csv --store sqlite:///multi.db
