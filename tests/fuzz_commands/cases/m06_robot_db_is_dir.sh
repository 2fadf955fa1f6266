mkdir rdb
L mock-robot serve --port $(free_port) --db rdb
