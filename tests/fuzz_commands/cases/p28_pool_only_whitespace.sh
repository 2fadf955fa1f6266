printf '   \n\n  \n' > p.csv
L validate pc.yaml
