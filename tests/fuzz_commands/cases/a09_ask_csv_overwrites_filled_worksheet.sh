# a filled-in worksheet not yet told: ask --csv again must not wipe the typed values
printf 'id,temperature_C,time_min,yield_pct\nhand-0000-01,97.80765533447266,30.5345621984452,71.5\nhand-0000-02,105.17566539347172,36.24332527630031,64.0\n' > ws.csv
L ask hand --csv ws.csv --store sqlite:///multi.db >/dev/null; rc=$?
grep -q 71.5 ws.csv || echo "DATALOSS: ws.csv values typed by the user were overwritten: $(tr '\n' '|' < ws.csv)" | tee -a .flags >&2
exit $rc
