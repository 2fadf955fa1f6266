L run branin_rf.yaml --store sqlite:///n.db -q --log-file branin_rf.yaml; rc=$?
L validate branin_rf.yaml >/dev/null 2>&1 || echo "DATALOSS: campaign file corrupted by the log" | tee -a .flags >&2
exit $rc
