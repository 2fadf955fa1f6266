L benchmark transfer.yaml --seeds 1 --budget 4 --workers 1 --out bo --transfer-fraction 0.1 --reach inf
