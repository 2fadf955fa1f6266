L report allfail --store sqlite:///allfail.db --out rep
