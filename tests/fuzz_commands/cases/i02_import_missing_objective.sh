printf 'temperature_C,time_min\n50,20\n' > d.csv
L import hand d.csv --store sqlite:///multi.db
