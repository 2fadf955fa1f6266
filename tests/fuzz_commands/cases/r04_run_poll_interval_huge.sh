L run branin_rf.yaml --store sqlite:///n.db -q --poll-interval 1e300
