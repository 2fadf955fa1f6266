L status --store "sqlite:///multi.db?foo=bar"
