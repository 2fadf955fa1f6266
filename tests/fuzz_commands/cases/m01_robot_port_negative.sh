L mock-robot serve --port -1 --db r.db
