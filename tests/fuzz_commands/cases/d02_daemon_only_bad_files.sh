mkdir camp
sed 's/kind: ei/kind: eii/' branin_rf.yaml > camp/bad.yaml
L daemon camp --store sqlite:///d.db --interval 0.2 --rescan 0.5 --exit-when-done
