L benchmark alloy.yaml --seeds 1 --budget -3 --workers 1 --out bo
