printf 'a,b,y\n1,2,3\n2,3,4\n3,1,5\n4,4,1\n5,2,2\n6,6,6\n7,1,2\n' > ds.csv
L benchmark alloy.yaml --seeds 1 --budget 6 --workers 1 --out bo --dataset ds.csv
