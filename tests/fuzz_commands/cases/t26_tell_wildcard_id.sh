L tell hand "hand-%" 5 --store sqlite:///multi.db
