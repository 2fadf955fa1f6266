"""The mock lab robot: its config (config.py), simulated lab (lab.py, truth.py), HTTP service (server.py),
and the oracle that talks to it (client.py, kind ``robot``)."""
