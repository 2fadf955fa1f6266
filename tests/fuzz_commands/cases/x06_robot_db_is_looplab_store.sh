timeout 5 $LL mock-robot serve --port $(free_port) --db multi.db; rc=$?
echo "tables: $($PY -c "import sqlite3; print(sorted(r[0] for r in sqlite3.connect('multi.db').execute('select name from sqlite_master where type=\"table\"')))")" >&2
exit $rc
