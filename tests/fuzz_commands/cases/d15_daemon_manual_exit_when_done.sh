# a manual campaign waits for a person: by design (README, daemon) --exit-when-done keeps the daemon running,
# and the log says what it waits for; does it say so, and does SIGTERM then end it cleanly?
mkdir camp; cp hand.yaml camp/h.yaml
$LL daemon camp --store sqlite:///d.db --interval 0.2 --rescan 0.5 --exit-when-done 2> daemon.err & pid=$!
for i in $(seq 600); do grep -q "waits for a person" daemon.err && break; sleep 0.1; done
grep -q "waits for a person" daemon.err || echo "SILENT: the daemon did not say within 60 s that it waits for a person" >> .flags
sleep 1; kill -TERM $pid
for i in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { echo "HANG: the daemon did not end within 30 s of SIGTERM" >> .flags; kill -9 $pid; }
wait $pid; rc=$?
cat daemon.err >&2
exit $rc
