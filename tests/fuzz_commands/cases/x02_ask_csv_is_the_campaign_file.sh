L ask hand.yaml --csv hand.yaml --store sqlite:///new.db; rc=$?
grep -q "^name: hand" hand.yaml || echo "DATALOSS: hand.yaml overwritten: $(head -c 80 hand.yaml | tr '\n' '|')" | tee -a .flags >&2
exit $rc
