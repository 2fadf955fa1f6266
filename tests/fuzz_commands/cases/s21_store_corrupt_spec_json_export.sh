$PY -c "
import sqlite3; c=sqlite3.connect('fin.db'); c.execute(\"update campaigns set spec='{\\\"name\\\": 5}'\"); c.commit()"
L export branin-rf --store sqlite:///fin.db
