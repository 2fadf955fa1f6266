mkdir d
L import hand d --store sqlite:///multi.db
