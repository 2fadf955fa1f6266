L run alloy.yaml --store sqlite:///a.db -q --max-steps 2 > /dev/null
$PY -c "
import csv
rows=list(csv.reader(open('pool.csv')))
for r in rows[1:]: r[-1]=str(float(r[-1])*-1)
csv.writer(open('pool.csv','w',newline='')).writerows(rows)"
L run alloy.yaml --store sqlite:///a.db -q
