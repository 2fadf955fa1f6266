printf 'x1,x2,value\n1,2,30\n' > d.csv
L import nosuch d.csv --store sqlite:///multi.db
