# an experiment that was never approved must not get a result by tell
L tell gated gated-0000-00 5 --store sqlite:///multi.db
