L stop hand --store sqlite:///multi.db > /dev/null
L extend hand --budget 30 --store sqlite:///multi.db
