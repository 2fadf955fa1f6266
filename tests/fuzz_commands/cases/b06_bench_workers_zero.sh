L benchmark alloy.yaml --seeds 1 --budget 6 --workers 0 --out bo
