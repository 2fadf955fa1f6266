# the main file deleted, -wal left behind
rm multi.db
L status --store sqlite:///multi.db
