L run nofile.yaml --store sqlite:///n.db
