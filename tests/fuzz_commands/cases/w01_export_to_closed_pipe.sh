timeout 120 $LL export branin-rf --store sqlite:///multi.db -f json 2> err.txt | head -c 10 > /dev/null; rc=${PIPESTATUS[0]}
cat err.txt >&2; exit 0
