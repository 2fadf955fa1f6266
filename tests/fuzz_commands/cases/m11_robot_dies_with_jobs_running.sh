# the robot dies while it holds running jobs; the failure policy never stops the campaign: does run wait forever?
start_robot robot_slow.yaml robnf.yaml
timeout 100 $LL run robnf.yaml --store sqlite:///s.db -q --poll-interval 0.3 > run.out 2> run.err & pid=$!
wait_sql s.db "select count(*) >= 3 from experiments where status = 'running'" 60
kill -9 $rpid; echo "robot killed at $(date +%T)" >&2
t0=$(date +%s); wait $pid; rc=$?; t1=$(date +%s)
echo "run ended rc=$rc $((t1-t0)) s after the robot was killed" >&2
[ $rc -eq 124 ] && echo "HANG: run still waiting 94 s after the robot died (no deadline for jobs the robot had accepted)" >> .flags
grep -v '^ ' run.err | tail -2 | cut -c1-250 >&2
$PY -c "
import sqlite3; print(sqlite3.connect('s.db').execute('select status, count(*) from experiments group by status').fetchall())" >&2
exit $rc
