L ask hand --wait nan --store sqlite:///multi.db
