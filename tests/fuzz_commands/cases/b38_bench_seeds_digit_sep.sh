L benchmark alloy.yaml --seeds 1_0 --budget 6 --workers 1 --out bo
