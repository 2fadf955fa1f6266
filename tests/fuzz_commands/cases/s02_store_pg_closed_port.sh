L status --store postgresql://u:p@127.0.0.1:1/db
