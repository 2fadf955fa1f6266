# a valid file next to an invalid and a broken one: the daemon runs the valid one (so the store changes: Lc)
# and exits 2 naming the others
mkdir camp; cp branin_rf.yaml camp/good.yaml
sed 's/kind: ei/kind: eii/; s/name: branin-rf/name: bad1/' branin_rf.yaml > camp/bad.yaml
printf 'name: [unclosed\n' > camp/broken.yml
Lc daemon camp --store sqlite:///d.db --interval 0.2 --rescan 0.5 --exit-when-done; rc=$?
echo "good campaign: $(L status branin-rf --store sqlite:///d.db 2>&1 | grep -o 'completed[^│]*' | head -1)" >&2
good_campaign_ran d.db branin-rf
exit $rc
