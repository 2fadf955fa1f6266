L ask hand.yaml --n -3 --store sqlite:///new.db
