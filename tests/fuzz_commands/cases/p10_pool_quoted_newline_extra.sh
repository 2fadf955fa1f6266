printf 'a,b,y,note\n1,2,3,"two\nlines"\n2,1,5,x\n3,3,1,x\n4,0,2,x\n5,5,7,x\n' > p.csv
L validate pc.yaml
