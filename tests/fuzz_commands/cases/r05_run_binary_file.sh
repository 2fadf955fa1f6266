junk 4000 > b.yaml
L run b.yaml --store sqlite:///n.db
