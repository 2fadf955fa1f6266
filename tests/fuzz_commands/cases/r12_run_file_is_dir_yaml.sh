mkdir x.yaml
L run x.yaml --store sqlite:///n.db
