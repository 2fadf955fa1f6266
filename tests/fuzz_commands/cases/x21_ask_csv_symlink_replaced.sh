# ask --csv through a symlink (e.g. /dev/stdout, a shared-drive link): writes PATH.tmp and renames it over the
# link, so the link itself is replaced by a regular file and its target is never written.
# (As root this is how `ask --csv /dev/full` replaced the /dev/full device node with a regular file.)
# Since 2026-12-05 the link's target, which ask did not write ("keep"), is refused outright (exit 2).
mkdir shared; echo "keep" > shared/real.csv; ln -s shared/real.csv link.csv
L ask hand --csv link.csv --store sqlite:///multi.db > /dev/null; rc=$?
[ -L link.csv ] || echo "DATALOSS: link.csv (a symlink to shared/real.csv) was replaced by a regular file; target still: $(cat shared/real.csv)" | tee -a .flags >&2
exit $rc
