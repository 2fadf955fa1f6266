printf 'a,b,y\n1,2,nan\n2,1,nan\n3,3,NaN\n4,0,nan\n' > p.csv
L validate pc.yaml
