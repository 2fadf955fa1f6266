# Sourced by every case of tests/fuzz_commands/cases (tests/test_fuzz_commands.py runs them). The case's
# working folder is its own copy of the generated fixtures (make_fixtures.py). The test sets, in the
# environment: LL (the looplab CLI), PY (the python looplab is installed in), REPO (the repository) and
# DATASETS (the shared datasets folder); no path is written here or in a case.
: "${LL:?LL: the looplab CLI}" "${PY:?PY: the python of looplab}"
export TF_CPP_MIN_LOG_LEVEL=2 NO_COLOR=1 COLUMNS=300

# dump DB: a digest of every row of every table (the lease table aside: taking and giving back a lease is
# not a change of the store), or "unreadable" when DB is no SQLite database
dump() { $PY - "$1" <<'PYEOF'
import sqlite3, sys, hashlib
try:
    c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    h = hashlib.sha1()
    for (t,) in c.execute("select name from sqlite_master where type='table' order by name"):
        if t in ("leases",): continue
        for row in c.execute(f'select * from "{t}"'):
            h.update(repr((t,row)).encode())
    print(h.hexdigest())
except Exception as e:
    print("unreadable", type(e).__name__)
PYEOF
}
snapall() { for f in *.db; do [ -f "$f" ] && echo "$f $(dump $f) $(stat -c %s $f)"; done; }

# L ARGS: run the CLI under test (timeout 120 s); a refusal (exit code not 0) that changed a store in the
# working folder, and a command past the time limit, are written to .flags (the test fails on them)
L() {
  local before after rc
  before=$(snapall)
  timeout 120 $LL "$@"; rc=$?
  after=$(snapall)
  if [ $rc -ne 0 ] && [ "$before" != "$after" ]; then echo "STORE-CHANGED-ON-REFUSAL" >> .flags; diff <(echo "$before") <(echo "$after") >> .flags; fi
  [ $rc -eq 124 ] && echo "TIMEOUT" >> .flags
  return $rc
}

# Lc ARGS: L without the store check, for a command run while another process writes the same store
Lc() {
  local rc
  timeout 120 $LL "$@"; rc=$?
  [ $rc -eq 124 ] && echo "TIMEOUT" >> .flags
  return $rc
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# junk N: N bytes of a binary file (an ELF header, then bytes that are no UTF-8 text), the same every time
junk() { $PY - "$1" <<'PYEOF'
import random, sys
n = int(sys.argv[1])
r = random.Random(n)
head = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x03\x00\x3e\x00\x01\x00\x00\x00" + b"\xd0\x6b\x00\x00"
sys.stdout.buffer.write((head + bytes(r.randrange(256) for _ in range(n)))[:n])
PYEOF
}

# start_robot CONFIG CAMPAIGN: a mock robot on a free port (written into CAMPAIGN's @PORT@) serving CONFIG,
# its output in robot.out; sets port and rpid; ends the case (exit 3) if the robot does not start
start_robot() {
  port=$(free_port); sed -i "s/@PORT@/$port/" "$2"
  $LL mock-robot serve --port $port --config "$1" > robot.out 2>&1 & rpid=$!
  wait_http http://127.0.0.1:$port/health || { echo "the robot did not start: $(cat robot.out)" >&2; kill $rpid; exit 3; }
}

# wait_http URL [SECONDS]: until URL answers (a mock robot's /health), at most SECONDS (60); 1 if it never did
wait_http() { $PY - "$1" "${2:-60}" <<'PYEOF'
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1).read()
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PYEOF
}

# wait_sql DB SQL [SECONDS]: until SQL's first value in DB is a true number (e.g. a count above 0), at most
# SECONDS (60); 1 if it never was
wait_sql() { $PY - "$1" "$2" "${3:-60}" <<'PYEOF'
import sqlite3, sys, time
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    try:
        c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=1)
        row = c.execute(sys.argv[2]).fetchone()
        c.close()
        if row and row[0]:
            sys.exit(0)
    except sqlite3.Error:
        pass
    time.sleep(0.1)
sys.exit(1)
PYEOF
}

# good_campaign_ran DB NAME: flag GOOD-CAMPAIGN-NOT-RUN unless campaign NAME of DB has completed
good_campaign_ran() {
  local status
  status=$($PY - "$1" "$2" 2>&1 <<'PYEOF'
import sqlite3, sys
try:
    c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    row = c.execute("select status from campaigns where name = ?", (sys.argv[2],)).fetchone()
    print(row[0] if row else "absent")
except sqlite3.Error as e:
    print(f"unreadable ({e})")
PYEOF
)
  [ "$status" = completed ] || echo "GOOD-CAMPAIGN-NOT-RUN: $2 in $1 is $status, not completed" >> .flags
}
