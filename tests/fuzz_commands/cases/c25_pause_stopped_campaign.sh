L stop hand --store sqlite:///multi.db > /dev/null
L pause hand --store sqlite:///multi.db
