L benchmark hand.yaml --seeds 1 --budget 6 --workers 1 --out bo
