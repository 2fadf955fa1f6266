L benchmark alloy.yaml --seeds 1 --budget 6 --workers 1 --out bo --strategies "random-forest:ucb(beta=1)(beta=2):1"
