# ask while a run drives the campaign: ask lists the run's experiments in flight when it finds some within
# --wait, else refuses, naming the run (exit 2). Which one depends on the moment (a function oracle measures
# in milliseconds); both are right, and the case exits 0 for either. Wrong: ask proposing a batch itself.
timeout 120 $LL run long.yaml --store sqlite:///s.db -q > run1.out 2> run1.err & pid=$!
wait_sql s.db "select count(*) from experiments" 100
Lc ask long --store sqlite:///s.db --wait 1 > ask.out 2> ask.err; rc=$?
kill -INT $pid; wait $pid
cat ask.out; cat ask.err >&2
if [ $rc -eq 0 ] && grep -q "^campaign long: [0-9]* experiment(s) \(still \)\?wait for results" ask.out; then
  echo "ask listed the run's experiments in flight" >&2; exit 0
fi
if [ $rc -eq 2 ] && head -1 ask.err | grep -q "^error campaign 'long' is being run by another process"; then
  echo "ask refused: no experiment of the run was in flight" >&2; exit 0
fi
echo "ask neither listed the run's experiments nor refused naming the run (exit code $rc)" >&2
exit 1
