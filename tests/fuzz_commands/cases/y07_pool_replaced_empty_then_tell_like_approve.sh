L run alloy.yaml --store sqlite:///a.db -q --max-steps 2 > /dev/null
: > pool.csv
L extend alloy --budget 20 --store sqlite:///a.db > /dev/null
L run alloy.yaml --store sqlite:///a.db -q
