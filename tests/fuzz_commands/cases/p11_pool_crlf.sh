printf 'a,b,y\r\n1,2,3\r\n2,1,5\r\n3,3,1\r\n4,0,2\r\n5,5,7\r\n' > p.csv
L validate pc.yaml
