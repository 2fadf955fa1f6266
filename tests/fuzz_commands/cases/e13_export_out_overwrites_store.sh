# exporting over the store itself must be refused
L export branin-rf --store sqlite:///multi.db --out multi.db
