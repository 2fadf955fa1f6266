L tell hand hand-0000-01 " nan" --store sqlite:///multi.db
