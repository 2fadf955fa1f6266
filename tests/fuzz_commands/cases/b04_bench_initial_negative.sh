L benchmark alloy.yaml --seeds 1 --budget 6 --initial -1 --workers 1 --out bo
