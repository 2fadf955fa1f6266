# running into another application's database adds looplab's tables to it
$PY -c "
import sqlite3; c=sqlite3.connect('app.db'); c.execute('create table users(id integer primary key, name text)'); c.execute(\"insert into users values (1,'ann')\"); c.commit()"
L run branin_rf.yaml --store sqlite:///app.db -q --max-steps 1 >/dev/null; rc=$?
echo "tables now: $($PY -c "import sqlite3; print([r[0] for r in sqlite3.connect('app.db').execute('select name from sqlite_master where type=\"table\"')])")" >&2
exit $rc
