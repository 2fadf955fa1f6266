timeout 120 $LL schema 2> err.txt | head -c 10 > /dev/null
cat err.txt >&2; exit 0
