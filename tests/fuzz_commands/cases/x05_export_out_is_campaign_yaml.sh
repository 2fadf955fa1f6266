L export branin-rf --store sqlite:///multi.db --out branin_rf.yaml; rc=$?
grep -q "^name: branin-rf" branin_rf.yaml || echo "DATALOSS: campaign file overwritten by export" | tee -a .flags >&2
exit $rc
