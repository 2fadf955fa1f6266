L mock-robot serve --port $(free_port) --config branin_rf.yaml --db r.db
