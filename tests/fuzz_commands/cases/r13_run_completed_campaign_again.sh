L run branin_rf.yaml --store sqlite:///multi.db -q
