L run alloy.yaml --store sqlite:///a.db -q --max-steps 2 > /dev/null
head -20 pool.csv > p2 && mv p2 pool.csv
L run alloy.yaml --store sqlite:///a.db -q
