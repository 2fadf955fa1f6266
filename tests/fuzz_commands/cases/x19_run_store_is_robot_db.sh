# the mock robot's own database given to run as the store
port=$(free_port)
$LL mock-robot serve --port $port --db rob.db >/dev/null 2>&1 & rpid=$!
wait_http http://127.0.0.1:$port/health; kill -TERM $rpid; wait $rpid
L run branin_rf.yaml --store sqlite:///rob.db -q --max-steps 1 > /dev/null; rc=$?
echo "tables: $($PY -c "import sqlite3; print(sorted(r[0] for r in sqlite3.connect('rob.db').execute('select name from sqlite_master where type=\"table\"')))")" >&2
exit $rc
