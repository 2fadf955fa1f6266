# the robot is killed (SIGKILL) once the campaign has results from it: the run must end (the failure policy
# stops the campaign, exit 1), not wait forever; with the robot back, resume and run again finish the
# campaign, the experiments the robot held included
start_robot robot.yaml rob.yaml
timeout 120 $LL run rob.yaml --store sqlite:///s.db -q --poll-interval 0.3 > run.out 2> run.err & pid=$!
wait_sql s.db "select count(*) >= 3 from experiments where status = 'succeeded'" 100
kill -9 $rpid; echo "robot killed at $(date +%T)" >&2
t0=$(date +%s); wait $pid; rc=$?; t1=$(date +%s)
echo "run ended rc=$rc $((t1-t0)) s after the robot was killed" >&2
[ $rc -eq 124 ] && echo "HANG: run did not end within 110 s of the robot's death" >> .flags
tail -4 run.err >&2
L status rob --store sqlite:///s.db 2>&1 | sed -n 4p >&2
# robot back: resume (a campaign its failures stopped stays stopped until then), rerun, nothing is lost
$LL mock-robot serve --port $port --config robot.yaml >> robot.out 2>&1 & rpid=$!
wait_http http://127.0.0.1:$port/health
L resume rob --store sqlite:///s.db >&2
timeout 100 $LL run rob.yaml --store sqlite:///s.db -q --poll-interval 0.3 > run2.out 2> run2.err; rc2=$?
echo "rerun rc=$rc2: $(grep -o '[0-9]* ([0-9]* succeeded, [0-9]* failed, [0-9]* in flight)' run2.out)" >&2
{ [ $rc2 -eq 0 ] && grep -q "15 ([0-9]* succeeded, [0-9]* failed, 0 in flight)" run2.out; } \
  || echo "RERUN-NOT-FINISHED: with the robot back, resume and run did not finish the campaign (rc $rc2)" >> .flags
kill $rpid
exit $rc
