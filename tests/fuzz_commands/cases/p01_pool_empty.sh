printf '' > p.csv
L validate pc.yaml
