printf 'y\n1\n2\n3\n4\n5\n6\n7\n' > ds.csv
L benchmark alloy.yaml --seeds 1 --budget 6 --workers 1 --out bo --dataset ds.csv
