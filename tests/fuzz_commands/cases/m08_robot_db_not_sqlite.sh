junk 5000 > r.db
L mock-robot serve --port $(free_port) --db r.db
