L ask hand.yaml --n 1000000 --store sqlite:///new.db
