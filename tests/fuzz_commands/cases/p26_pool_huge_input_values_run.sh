printf 'a,b,y\n1e300,2,3\n-1e300,1,5\n3,3,1\n4,0,2\n5,5,7\n' > p.csv
L run pc.yaml --store sqlite:///n.db -q
