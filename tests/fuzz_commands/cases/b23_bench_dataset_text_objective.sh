printf 'x_Cu,x_Ag,x_Au,mixing_energy\n0,0,1,a\n0,1,0,b\n1,0,0,c\n0.5,0.5,0,d\n0,0.5,0.5,e\n0.5,0,0.5,f\n0.2,0.3,0.5,g\n' > ds.csv
L benchmark alloy.yaml --seeds 1 --budget 6 --workers 1 --out bo --dataset ds.csv
