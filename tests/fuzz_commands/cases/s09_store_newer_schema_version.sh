$PY -c "
import sqlite3; c=sqlite3.connect('fin.db'); c.execute('update campaigns set schema_version=99'); c.commit()"
L status branin-rf --store sqlite:///fin.db
