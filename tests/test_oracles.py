"""Built-in oracles: the test functions' known optima, lookup matching, and SyncOracle's contract."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from conftest import ALLOY_POOL
from oracles.base import Experiment, SyncOracle
from oracles.functions import FUNCTIONS
from oracles.lookup import LookupOracle


@pytest.mark.parametrize("name", ["branin", "hartmann3", "hartmann6"])
def test_each_test_function_has_its_stated_optimum(name):
    tf = FUNCTIONS[name]
    assert tf.fn(np.array(tf.argmin)) == pytest.approx(tf.optimum, abs=1e-4)
    # and nothing in the domain is lower: multistart local search from random points
    rng = np.random.default_rng(0)
    lo, hi = np.array(tf.bounds).T
    for x0 in lo + (hi - lo) * rng.random((20, tf.dim)):
        res = minimize(tf.fn, x0, bounds=tf.bounds, method="L-BFGS-B")
        assert res.fun >= tf.optimum - 1e-6


def lookup(**kw) -> LookupOracle:
    return LookupOracle(path=ALLOY_POOL, inputs=("x_Cu", "x_Ag", "x_Au"), column="mixing_energy", **kw)


def test_lookup_returns_the_row_value_and_ranks_it():
    o = lookup()
    o.submit([Experiment("a", {"x_Cu": 0.0, "x_Ag": 0.4375, "x_Au": 0.5625})])
    (r,) = o.poll()
    assert r.status == "succeeded" and r.value == pytest.approx(-0.014794)
    assert o.rank(r.value, "min") == (1, 561)
    assert o.rank(r.value, "max") == (561, 561)


def test_lookup_exact_miss_fails_and_nearest_finds_the_closest_row():
    o = lookup()
    o.submit([Experiment("miss", {"x_Cu": 0.01, "x_Ag": 0.4275, "x_Au": 0.5625})])
    (r,) = o.poll()
    assert r.status == "failed" and "no row" in r.error
    n = lookup(match="nearest")
    n.submit([Experiment("near", {"x_Cu": 0.001, "x_Ag": 0.4370, "x_Au": 0.5620})])
    (r,) = n.poll()
    assert r.value == pytest.approx(-0.014794)


def test_lookup_noise_is_seeded_and_centred():
    values = []
    for seed in range(200):
        o = lookup(noise=0.01, seed=seed)
        o.submit([Experiment("a", {"x_Cu": 0.0, "x_Ag": 0.4375, "x_Au": 0.5625})])
        values.append(o.poll()[0].value)
    assert np.mean(values) == pytest.approx(-0.014794, abs=0.003)
    assert np.std(values) == pytest.approx(0.01, rel=0.2)
    again = lookup(noise=0.01, seed=3)
    again.submit([Experiment("a", {"x_Cu": 0.0, "x_Ag": 0.4375, "x_Au": 0.5625})])
    assert again.poll()[0].value == values[3]


def test_sync_oracle_submit_is_idempotent_and_poll_delivers_once():
    calls = []

    class Counting(SyncOracle):
        def evaluate(self, params):
            calls.append(params["x"])
            return params["x"] * 2

    o = Counting()
    o.submit([Experiment("e1", {"x": 1.0}), Experiment("e2", {"x": 2.0})])
    o.submit([Experiment("e1", {"x": 1.0})])
    assert calls == [1.0, 2.0]
    assert sorted((r.experiment_id, r.value) for r in o.poll()) == [("e1", 2.0), ("e2", 4.0)]
    assert o.poll() == []
    o.cancel("e3")
    assert [(r.experiment_id, r.status) for r in o.poll()] == [("e3", "cancelled")]


def test_outputs_whose_keys_are_the_same_as_text_fail_the_experiment():
    """{1: a, "1": b}: one replaced the other without a word when the keys became text (fuzz round nine)."""
    from oracles.base import to_result

    r = to_result("e", {"value": 1.0, 1: "int", "1": "text"}, "value")
    assert r.status == "failed" and r.error.startswith(
        "the outputs are not JSON: two keys of the outputs are the same as text (1 and '1')"), r
    ok = to_result("e", {"value": 1.0, 2: "int", "1": "text", "nested": {None: 1}}, "value")
    assert ok.status == "succeeded" and ok.outputs == {"2": "int", "1": "text", "nested": {"None": 1}}
