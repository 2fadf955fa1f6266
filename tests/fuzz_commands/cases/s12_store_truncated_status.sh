head -c 30000 fin.db > t.db; mv t.db fin.db
L status --store sqlite:///fin.db
