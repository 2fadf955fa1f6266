printf 'a,b,y\n1,2,1e-300\n2,1,2e-300\n3,3,3e-300\n4,0,4e-300\n5,5,5e-300\n' > p.csv
L run pc.yaml --store sqlite:///n.db -q
