rm hand.db
L tell hand hand-0000-01 5 --store sqlite:///hand.db
