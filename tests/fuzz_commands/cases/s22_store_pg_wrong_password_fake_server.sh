# a TCP port that accepts but never answers (a black hole): must time out, not hang
$PY -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(5)
open('port.tmp', 'w').write(str(s.getsockname()[1])); __import__('os').replace('port.tmp', 'port'); time.sleep(200)" & pid=$!
for i in $(seq 300); do [ -s port ] && break; sleep 0.1; done
L status --store postgresql://u:p@127.0.0.1:$(cat port)/db; rc=$?
kill $pid
exit $rc
