L benchmark alloy.yaml --seeds 1 --budget 6 --workers 100000 --out bo
