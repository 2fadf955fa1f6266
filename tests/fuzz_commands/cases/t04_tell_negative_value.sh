# a negative yield is a number: must be accepted (or say how to pass it)
L tell hand hand-0000-01 -5 --store sqlite:///multi.db
