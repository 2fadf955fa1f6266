L ask hand.yaml --n 1_0 --store sqlite:///new.db
