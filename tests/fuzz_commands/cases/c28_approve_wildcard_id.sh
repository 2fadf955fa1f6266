L approve gated "gated-%" --store sqlite:///multi.db
