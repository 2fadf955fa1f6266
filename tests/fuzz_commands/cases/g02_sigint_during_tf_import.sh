# Ctrl-C once the initial design is measured, while the first GP fit imports TensorFlow: exit 130, no traceback
timeout 120 $LL run gp.yaml --store sqlite:///s.db -q > run1.out 2> run1.err & pid=$!
wait_sql s.db "select count(*) >= 5 from experiments where status = 'succeeded'" 100; sleep 0.3
kill -INT $pid; wait $pid; rc=$?
cat run1.err >&2
exit $rc
