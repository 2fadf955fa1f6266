L benchmark alloy.yaml --seeds 1 --budget 0 --workers 1 --out bo
