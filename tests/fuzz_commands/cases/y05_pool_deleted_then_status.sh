L run alloy.yaml --store sqlite:///a.db -q --max-steps 2 > /dev/null
rm pool.csv
L status alloy --store sqlite:///a.db
