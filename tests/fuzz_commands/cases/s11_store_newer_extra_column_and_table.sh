# a store a newer looplab wrote: an extra NOT NULL column in experiments
$PY -c "
import sqlite3; c=sqlite3.connect('hand.db'); c.execute('alter table experiments add column priority integer not null default 0'); c.execute('create table future_things(x)'); c.commit()"
L tell hand hand-0000-01 5 --store sqlite:///hand.db
