# run on a manual campaign: nothing can happen without a person
L run hand.yaml --store sqlite:///multi.db -q --max-steps 1
