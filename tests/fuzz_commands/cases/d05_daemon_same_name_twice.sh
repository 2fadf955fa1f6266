# two files, one campaign name, two setups: one runs (the store changes: Lc), the other is refused (exit 2)
mkdir camp; cp branin_rf.yaml camp/a.yaml; sed 's/seed: 7/seed: 8/' branin_rf.yaml > camp/b.yaml
Lc daemon camp --store sqlite:///d.db --interval 0.2 --rescan 0.5 --exit-when-done; rc=$?
good_campaign_ran d.db branin-rf
exit $rc
