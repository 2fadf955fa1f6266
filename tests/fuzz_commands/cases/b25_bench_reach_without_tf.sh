L benchmark alloy.yaml --seeds 1 --budget 6 --workers 1 --out bo --reach -0.01
