L benchmark alloy.yaml --seeds 1 --budget 6 --workers 1 --out bo --strategies "random-forest(n_estimators=-3):ei:1"
