# the log file named after the store: refused, and the store (if made) stays a sound database
L run branin_rf.yaml --store sqlite:///n.db -q --log-file n.db; rc=$?
if [ -e n.db ]; then
  $PY -c "
import sqlite3; c = sqlite3.connect('file:n.db?mode=ro', uri=True)
print(c.execute('pragma integrity_check').fetchone(), c.execute('select count(*) from experiments').fetchone())" >&2 2>/dev/null \
    || echo "DATALOSS: n.db corrupted by the log" | tee -a .flags >&2
fi
exit $rc
