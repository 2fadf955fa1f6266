L daemon branin_rf.yaml --store sqlite:///d.db --exit-when-done
