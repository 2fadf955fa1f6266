L benchmark alloy.yaml --seeds 1 --budget 6 --initial 50 --workers 1 --out bo
