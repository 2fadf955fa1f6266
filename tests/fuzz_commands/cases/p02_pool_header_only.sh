printf 'a,b,y\n' > p.csv
L validate pc.yaml
