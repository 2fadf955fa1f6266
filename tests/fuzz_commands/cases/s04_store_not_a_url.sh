L status --store "not a url"
