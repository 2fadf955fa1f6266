$PY -c "
import sys
print('id,yield_pct')
for i in range(100000): print(f'hand-9{i:05d}-00,1')" > r.csv
L tell hand --csv r.csv --store sqlite:///multi.db
