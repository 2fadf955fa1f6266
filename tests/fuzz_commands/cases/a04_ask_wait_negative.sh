L ask hand --wait -1 --store sqlite:///multi.db
