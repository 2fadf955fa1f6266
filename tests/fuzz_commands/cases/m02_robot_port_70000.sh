L mock-robot serve --port 70000 --db r.db
