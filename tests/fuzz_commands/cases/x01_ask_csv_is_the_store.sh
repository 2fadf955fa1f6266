# writing the worksheet over the store itself must be refused
L ask hand --csv multi.db --store sqlite:///multi.db; rc=$?
$PY -c "import sqlite3; sqlite3.connect('multi.db').execute('select count(*) from experiments').fetchone()" 2>/dev/null || echo "DATALOSS: multi.db is no longer a database: $(head -c 60 multi.db | tr '\n' '|')" | tee -a .flags >&2
exit $rc
