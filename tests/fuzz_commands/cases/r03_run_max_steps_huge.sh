L run branin_rf.yaml --store sqlite:///n.db -q --max-steps 100000000000000000000000
