head -c 30000 multi.db > t.db; mv t.db multi.db; rm -f multi.db-wal multi.db-shm
cp multi.db before.bin
L run branin_rf.yaml --store sqlite:///multi.db -q; rc=$?
cmp -s multi.db before.bin || echo "DATALOSS: truncated store was modified by a refused run" >> .flags
exit $rc
