mkdir camp; cp branin_rf.yaml camp/a.yaml
L daemon camp --store sqlite:///d.db --interval 0.2 --rescan 0.5 --exit-when-done --log-file /dev/full
