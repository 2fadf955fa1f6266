: > z.db
L status --store sqlite:///z.db
