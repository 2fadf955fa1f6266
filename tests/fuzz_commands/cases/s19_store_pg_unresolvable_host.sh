L status --store postgresql://u:p@no-such-host.invalid/db
