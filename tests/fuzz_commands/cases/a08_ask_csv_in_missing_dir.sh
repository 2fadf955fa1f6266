L ask hand.yaml --csv nodir/ws.csv --store sqlite:///new.db; rc=$?
[ -f new.db ] && $PY -c "
import sqlite3; c=sqlite3.connect('new.db'); print('experiments stored after refused ask:', c.execute('select count(*) from experiments').fetchone()[0])" >&2
exit $rc
