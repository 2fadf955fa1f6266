L runn branin_rf.yaml
