L mock-robot serve --port $(free_port) --config nope.yaml --db r.db
