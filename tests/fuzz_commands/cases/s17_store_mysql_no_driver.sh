L status --store mysql://u:p@127.0.0.1/db
