timeout 120 $LL run long.yaml --store sqlite:///s.db -q > run1.out 2> run1.err & pid=$!
wait_sql s.db "select count(*) from experiments" 100
timeout 120 $LL run long.yaml --store sqlite:///s.db -q; rc=$?
wait $pid; echo "first run rc=$?" >&2
exit $rc
