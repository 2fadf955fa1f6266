L report empty --store sqlite:///empty.db --out rep
