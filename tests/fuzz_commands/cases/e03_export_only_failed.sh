L export allfail --store sqlite:///allfail.db -f json
