L report hand --store sqlite:///multi.db --out rep
