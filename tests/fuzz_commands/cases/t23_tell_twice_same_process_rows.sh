L tell hand hand-0000-01 5 --store sqlite:///multi.db >/dev/null && L tell hand hand-0000-01 6 --store sqlite:///multi.db
