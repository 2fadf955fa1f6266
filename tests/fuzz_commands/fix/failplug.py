from oracles import SyncOracle
class Oracle(SyncOracle):
    def evaluate(self, params):
        raise RuntimeError("instrument on fire")
