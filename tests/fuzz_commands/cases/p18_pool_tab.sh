printf 'a\tb\ty\n1\t2\t3\n2\t1\t5\n' > p.csv
L validate pc.yaml
