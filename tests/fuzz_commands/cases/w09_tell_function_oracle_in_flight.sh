L run long.yaml --store sqlite:///s.db -q --max-steps 1 > /dev/null
L tell long long-0000-00 5 --store sqlite:///s.db
