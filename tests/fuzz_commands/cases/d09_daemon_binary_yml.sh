# a binary file named .yml next to a valid file: the valid one runs (the store changes: Lc), exit 2
mkdir camp; cp branin_rf.yaml camp/a.yaml; junk 3000 > camp/junk.yml
Lc daemon camp --store sqlite:///d.db --interval 0.2 --rescan 0.5 --exit-when-done; rc=$?
good_campaign_ran d.db branin-rf
exit $rc
