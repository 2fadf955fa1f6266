printf 'a,b,y\n1,2,1e308\n2,1,-1e308\n3,3,1\n4,0,2\n5,5,7\n' > p.csv
L run pc.yaml --store sqlite:///n.db -q
