L ask gated --store sqlite:///multi.db
