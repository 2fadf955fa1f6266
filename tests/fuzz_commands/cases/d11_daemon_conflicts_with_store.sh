mkdir camp; sed 's/seed: 7/seed: 9/' branin_rf.yaml > camp/a.yaml
L daemon camp --store sqlite:///multi.db --interval 0.2 --rescan 0.5 --exit-when-done
