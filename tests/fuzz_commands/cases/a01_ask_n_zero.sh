L ask hand.yaml --n 0 --store sqlite:///new.db
