printf 'a,b,y,Y\n1,2,3,4\n2,1,5,4\n3,3,1,4\n4,0,2,4\n5,5,7,4\n' > p.csv
L validate pc.yaml
