# two runs of two campaigns on one SQLite store at the same time: both finish (15 experiments each: enough to
# overlap, short enough for a loaded machine)
sed 's/max_experiments: 40/max_experiments: 15/' long.yaml > l1.yaml
sed 's/max_experiments: 40/max_experiments: 15/' long2.yaml > l2.yaml
timeout 120 $LL run l1.yaml --store sqlite:///s.db -q > run1.out 2> run1.err & pid=$!
Lc run l2.yaml --store sqlite:///s.db -q > /dev/null; rc=$?
wait $pid; rc1=$?; echo "first run rc=$rc1" >&2; grep -v '^ ' run1.err | tail -3 >&2
[ $rc1 -ne 0 ] && exit $rc1
exit $rc
