L pause hand --reason "$(head -c 100000 /dev/zero | tr '\0' x)" --store sqlite:///multi.db
