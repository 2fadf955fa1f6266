$PY -c "
import sqlite3; c=sqlite3.connect('fin.db'); c.execute(\"update campaigns set spec='{not json'\"); c.commit()"
L status --store sqlite:///fin.db
