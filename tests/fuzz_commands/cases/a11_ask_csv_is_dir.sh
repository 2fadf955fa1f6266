mkdir out
L ask hand --csv out --store sqlite:///multi.db
