L validate branin_rf.yaml nofile.yaml
