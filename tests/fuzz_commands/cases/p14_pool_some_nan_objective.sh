printf 'a,b,y\n1,2,3\n2,1,NaN\n3,3,1\n4,0,2\n5,5,7\n' > p.csv
L validate pc.yaml
