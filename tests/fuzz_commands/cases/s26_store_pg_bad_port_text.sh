L status --store "postgresql://u:pw@127.0.0.1:abc/db"
