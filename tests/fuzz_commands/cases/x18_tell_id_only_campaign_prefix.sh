L tell hand hand --store sqlite:///multi.db
