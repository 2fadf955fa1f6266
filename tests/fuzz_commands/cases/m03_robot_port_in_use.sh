# another program listens on the port: refused, naming the port
$PY -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(5)
open('port.tmp', 'w').write(str(s.getsockname()[1])); __import__('os').replace('port.tmp', 'port'); time.sleep(60)" & pid=$!
for i in $(seq 300); do [ -s port ] && break; sleep 0.1; done
L mock-robot serve --port $(cat port) --db r.db; rc=$?
kill $pid; exit $rc
