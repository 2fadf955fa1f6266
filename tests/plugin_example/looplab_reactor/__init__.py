"""An example looplab oracle plugin: a batch reactor running the consecutive reactions A -> B -> C.

Installed, it registers the oracle kind ``reactor`` (entry point group
``looplab.oracles``); a campaign then says ``oracle: {kind: reactor}``.
"""

from .oracle import ReactorOracle

__all__ = ["ReactorOracle"]
