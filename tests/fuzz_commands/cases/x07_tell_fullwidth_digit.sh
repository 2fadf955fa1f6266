L tell hand hand-0000-01 "５" --store sqlite:///multi.db
