mkdir camp sdir; cp branin_rf.yaml camp/a.yaml
L daemon camp --store sqlite:///sdir --exit-when-done
