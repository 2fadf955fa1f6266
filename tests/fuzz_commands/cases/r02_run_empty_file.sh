: > e.yaml
L run e.yaml --store sqlite:///n.db
