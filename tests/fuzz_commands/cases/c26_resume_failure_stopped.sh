# resume of a campaign the failure policy stopped: does it say what to do?
L resume rob --store sqlite:///robstop.db; echo "rc resume=$?" >&2
L status rob --store sqlite:///robstop.db | sed -n 4,5p | cut -c1-200 >&2
