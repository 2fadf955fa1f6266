timeout 120 $LL run long.yaml --store sqlite:///s.db -q > run1.out 2> run1.err & pid=$!
wait_sql s.db "select count(*) >= 8 from experiments" 100; kill -INT $pid; wait $pid; rc1=$?
echo "first run rc=$rc1 traceback=$(grep -c Traceback run1.err) stderr_lines=$(wc -l < run1.err)" >&2
grep -q Traceback run1.err && { echo "TRACEBACK on SIGINT" >> .flags; grep -v '^ ' run1.err | tail -3 >&2; }
L run long.yaml --store sqlite:///s.db -q > /dev/null; rc=$?
$PY - <<'PY' >&2
import sqlite3, collections
c = sqlite3.connect('s.db')
rows = c.execute("select id, params, status from experiments").fetchall()
ids = collections.Counter(r[0] for r in rows); ps = collections.Counter(r[1] for r in rows)
st = collections.Counter(r[2] for r in rows)
print(f"after resume: {len(rows)} experiments, statuses {dict(st)}, dup params {sum(v>1 for v in ps.values())}")
if len(rows) != 40 or sum(v>1 for v in ps.values()): open('.flags','a').write('DUPLICATE-OR-MISSING after SIGINT resume\n')
PY
exit $rc
