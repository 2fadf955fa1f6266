sed 's/seed: 7/seed: 8/' branin_rf.yaml > b2.yaml
L run b2.yaml --store sqlite:///multi.db -q
