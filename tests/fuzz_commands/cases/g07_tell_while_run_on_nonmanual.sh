# tell while a run drives a function-oracle campaign, on an experiment in flight if the moment has one (the
# told value stands in for the oracle's, with a note: exit 0), else on one already measured (refused: exit 2,
# it already has a result). Both are right and the case exits 0 for either; the run must not break.
timeout 120 $LL run long.yaml --store sqlite:///s.db -q --poll-interval 0.5 > run1.out 2> run1.err & pid=$!
wait_sql s.db "select count(*) >= 6 from experiments" 100
id=$($PY -c "import sqlite3; r=sqlite3.connect('s.db').execute(\"select id from experiments where status not in ('succeeded','failed') limit 1\").fetchone(); print(r[0] if r else 'long-0000-00')")
timeout 120 $LL tell long $id 123 --store sqlite:///s.db > tell.out 2> tell.err; rc=$?
kill -INT $pid; wait $pid
cat tell.out; cat tell.err >&2
grep -q Traceback run1.err && { echo "TRACEBACK: the run broke after the tell" >> .flags; tail -5 run1.err >&2; }
if [ $rc -eq 0 ] && grep -q "^recorded 1 result(s) for campaign long" tell.out; then
  echo "told $id, in flight" >&2; exit 0
fi
if [ $rc -eq 2 ] && head -1 tell.err | grep -q "^error ID: experiment '$id' already has a result"; then
  echo "refused: $id already had a result" >&2; exit 0
fi
echo "tell $id neither recorded the value nor refused as measured already (exit code $rc)" >&2
exit 1
