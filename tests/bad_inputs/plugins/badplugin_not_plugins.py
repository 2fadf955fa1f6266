"""Things an import-path kind may name that are not oracles, models or acquisitions."""

LIMIT = 3.5


def evaluate(params):
    return 1.0


class NothingToCall:
    """A class, but with none of the methods a plugin needs."""
