printf 'x1,x2,value\n1,2,30\n' > d.csv
L import branin-rf d.csv --store sqlite:///multi.db
