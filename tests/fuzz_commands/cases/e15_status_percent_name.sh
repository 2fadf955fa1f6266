L status "%" --store sqlite:///multi.db
