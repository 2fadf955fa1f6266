L run branin_rf.yaml --store sqlite:///n.db -q --log-file /dev/full
