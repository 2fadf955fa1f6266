L ask nosuch --store sqlite:///multi.db
