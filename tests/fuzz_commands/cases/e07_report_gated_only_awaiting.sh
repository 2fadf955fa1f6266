L report gated --store sqlite:///multi.db --out rep
