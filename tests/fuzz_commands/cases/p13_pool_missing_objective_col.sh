printf 'a,b,z\n1,2,3\n2,1,5\n3,3,1\n4,0,2\n5,5,7\n' > p.csv
L validate pc.yaml
