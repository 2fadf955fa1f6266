L status --store postgresql://u:p@10.255.255.1:5432/db
