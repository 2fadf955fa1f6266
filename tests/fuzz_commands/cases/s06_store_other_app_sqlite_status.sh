$PY -c "
import sqlite3; c=sqlite3.connect('app.db'); c.execute('create table users(id integer primary key, name text)'); c.execute(\"insert into users values (1,'ann')\"); c.commit()"
L status --store sqlite:///app.db
