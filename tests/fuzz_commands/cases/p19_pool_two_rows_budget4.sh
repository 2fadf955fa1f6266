printf 'a,b,y\n1,2,3\n2,1,5\n' > p.csv
L validate pc.yaml
