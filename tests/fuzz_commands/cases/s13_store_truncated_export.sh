head -c 30000 fin.db > t.db; mv t.db fin.db
L export branin-rf --store sqlite:///fin.db
