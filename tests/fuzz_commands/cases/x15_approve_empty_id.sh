L approve gated "" --store sqlite:///multi.db
