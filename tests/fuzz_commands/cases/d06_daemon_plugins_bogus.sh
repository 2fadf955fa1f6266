mkdir camp; cp branin_rf.yaml camp/a.yaml
L daemon camp --store sqlite:///d.db --exit-when-done --plugins sometimes
