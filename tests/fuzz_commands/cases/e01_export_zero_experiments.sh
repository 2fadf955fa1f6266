L export empty --store sqlite:///empty.db
