printf 'a,b,y\n1,2,3\n' > p.csv
L validate pc.yaml
