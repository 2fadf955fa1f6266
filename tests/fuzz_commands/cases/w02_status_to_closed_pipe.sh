timeout 120 $LL status --store sqlite:///multi.db 2> err.txt | head -1 > /dev/null
cat err.txt >&2; exit 0
