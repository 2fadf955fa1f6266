"""A plugin module whose code fails while it is imported (a missing instrument, a bad setting...)."""

raise RuntimeError("no instrument connected on /dev/ttyUSB0")
