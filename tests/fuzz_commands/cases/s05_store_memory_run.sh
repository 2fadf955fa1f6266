# sqlite:// (in memory) loses everything at exit: a durable store is promised
L run branin_rf.yaml --store sqlite:// -q
