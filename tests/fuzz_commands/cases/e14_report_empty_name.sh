L report "" --store sqlite:///multi.db --out rep
