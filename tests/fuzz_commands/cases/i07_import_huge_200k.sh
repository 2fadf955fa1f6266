$PY -c "
import random
print('temperature_C,time_min,yield_pct')
for i in range(200000): print(f'{40+80*random.random()},{5+55*random.random()},{random.random()*100}')" > d.csv
L import hand d.csv --store sqlite:///multi.db | tail -2
