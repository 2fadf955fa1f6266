printf 'stations: [\n' > rc.yaml
L mock-robot serve --port $(free_port) --config rc.yaml --db r.db
