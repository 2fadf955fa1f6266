timeout 120 $LL run long.yaml --store sqlite:///s.db -q > run1.out 2> run1.err & pid=$!
wait_sql s.db "select count(*) >= 8 from experiments" 100; kill -TERM $pid; wait $pid; rc=$?
cat run1.err >&2
L status long --store sqlite:///s.db | grep -i "long " | head -2 >&2
exit $rc
