L mock-robot serve --port $(free_port) --host 999.1.1.1 --db r.db
