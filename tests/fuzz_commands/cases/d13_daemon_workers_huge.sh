mkdir camp; cp branin_rf.yaml camp/a.yaml
L daemon camp --store sqlite:///d.db --workers 1000000 --interval 0.2 --exit-when-done
