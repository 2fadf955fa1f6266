# another app's db that has a table named 'campaigns' with other columns
$PY -c "
import sqlite3; c=sqlite3.connect('app.db'); c.execute('create table campaigns(id integer primary key, title text)'); c.execute(\"insert into campaigns values (1,'spring sale')\"); c.commit()"
L run branin_rf.yaml --store sqlite:///app.db -q --max-steps 1
