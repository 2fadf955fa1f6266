L tell hand --csv /dev/null --store sqlite:///multi.db
