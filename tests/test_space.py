"""Search spaces: encoding round trips, constrained sampling, pools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.config import SpaceSpec
from orchestrator.space import build_space


def space(params, constraints=()):
    return build_space(SpaceSpec.model_validate({"parameters": params, "constraints": list(constraints)}), Path("."))


MIXED = [
    {"name": "t", "type": "float", "low": 300, "high": 600},
    {"name": "rate", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    {"name": "n", "type": "int", "low": 1, "high": 8},
    {"name": "solvent", "type": "categorical", "choices": ["water", "ethanol", "dmso"]},
]


@pytest.mark.parametrize("method", ["random", "sobol", "lhs"])
def test_mixed_space_round_trips_through_the_encoding(method):
    s = space(MIXED)
    assert s.dim == 1 + 1 + 1 + 3
    rows = s.sample(64, method, np.random.default_rng(0))
    X = s.encode(rows)
    assert X.shape == (64, 6) and X.min() >= 0 and X.max() <= 1
    back = s.decode(X)
    for a, b in zip(rows, back):
        assert b["t"] == pytest.approx(a["t"]) and b["rate"] == pytest.approx(a["rate"])
        assert b["n"] == a["n"] and b["solvent"] == a["solvent"]
    assert {r["solvent"] for r in rows} == {"water", "ethanol", "dmso"}
    assert {r["n"] for r in rows} == set(range(1, 9))


def test_log_parameters_are_spread_over_decades():
    s = space([{"name": "rate", "type": "float", "low": 1e-6, "high": 1.0, "log": True}])
    rows = s.sample(256, "sobol", np.random.default_rng(1))
    decades = np.floor(np.log10([r["rate"] for r in rows]))
    assert set(decades) == {-6, -5, -4, -3, -2, -1}


def test_sample_is_reproducible_from_the_generator():
    s = space(MIXED)
    a = s.sample(10, "sobol", np.random.default_rng(5))
    b = s.sample(10, "sobol", np.random.default_rng(5))
    assert a == b


MIX = [{"name": n, "type": "float", "low": lo, "high": hi} for n, lo, hi in
       [("a", 0.0, 1.0), ("b", 0.1, 0.6), ("c", 0.0, 0.5)]]


def test_constrained_samples_sum_to_total_and_respect_bounds():
    s = space(MIX + [{"name": "T", "type": "float", "low": 0, "high": 1}],
              [{"type": "sum", "parameters": ["a", "b", "c"], "total": 1.0}])
    rows = s.sample(200, "sobol", np.random.default_rng(2))
    for r in rows:
        assert r["a"] + r["b"] + r["c"] == pytest.approx(1.0, abs=1e-12)
        assert 0.1 <= r["b"] <= 0.6 and 0 <= r["c"] <= 0.5
    # and they fill the feasible region, not a corner of it
    assert np.ptp([r["b"] for r in rows]) > 0.4 and np.ptp([r["c"] for r in rows]) > 0.4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_decode_projects_any_point_onto_the_constraint(u):
    s = space(MIX, [{"type": "sum", "parameters": ["a", "b", "c"], "total": 1.0}])
    r = s.decode(np.array([u]))[0]
    assert r["a"] + r["b"] + r["c"] == pytest.approx(1.0, abs=1e-9)
    assert 0.1 - 1e-12 <= r["b"] <= 0.6 + 1e-12 and -1e-12 <= r["c"] <= 0.5 + 1e-12


def test_linear_equalities_match_the_raw_constraint():
    s = space(MIX, [{"type": "sum", "parameters": ["a", "b", "c"], "total": 1.0}])
    A, b = s.linear_equalities()
    rows = s.sample(20, "random", np.random.default_rng(3))
    np.testing.assert_allclose(s.encode(rows) @ A.T, np.tile(b, (20, 1)), atol=1e-12)


def test_pool_collapses_duplicate_inputs_and_scales_columns(tmp_path):
    (tmp_path / "p.csv").write_text("x,kind,y\n1,a,0.5\n3,b,0.1\n1,a,0.7\n2,a,0.2\n")
    s = build_space(SpaceSpec.model_validate({"pool": {"path": "p.csv", "inputs": ["x", "kind"], "categorical": ["kind"]}}), tmp_path)
    assert s.size == 3
    assert s.X.shape == (3, 1 + 2)
    np.testing.assert_allclose(sorted(s.X[:, 0]), [0.0, 0.5, 1.0])
    assert s.index_of({"x": 2.0, "kind": "a"}) == 2 and s.index_of({"x": 9.0, "kind": "a"}) is None
    chosen = s.sample_indices(3, "sobol", np.random.default_rng(0), exclude=set())
    assert sorted(chosen) == [0, 1, 2]


def _check_groups_cover(groups, dim):
    cols = [c for g in groups for c in range(g.columns.start, g.columns.stop)]
    assert cols == list(range(dim))  # every encoded column exactly once, in order


def test_parameter_space_column_groups_cover_the_encoding_in_order():
    s = space(MIXED)
    groups = s.column_groups()
    assert [(g.name, g.kind, g.width) for g in groups] == [
        (p["name"], "categorical" if p["type"] == "categorical" else "numeric",
         len(p["choices"]) if p["type"] == "categorical" else 1) for p in MIXED]
    _check_groups_cover(groups, s.dim)
    # the one-hot block of a categorical parameter holds exactly one 1 per row
    X = s.encode(s.sample(5, "random", np.random.default_rng(0)))
    for g in groups:
        if g.kind == "categorical":
            np.testing.assert_array_equal(X[:, g.columns].sum(axis=1), np.ones(5))


def test_pool_column_groups_cover_the_encoding_in_order(tmp_path):
    (tmp_path / "p.csv").write_text("x,kind,z,y\n1,a,5,0.5\n3,b,6,0.1\n2,c,7,0.2\n")
    s = build_space(SpaceSpec.model_validate({"pool": {"path": "p.csv", "inputs": ["x", "kind", "z"], "categorical": ["kind"]}}), tmp_path)
    groups = s.column_groups()
    assert [(g.name, g.kind, g.columns) for g in groups] == [
        ("x", "numeric", slice(0, 1)), ("kind", "categorical", slice(1, 4)), ("z", "numeric", slice(4, 5))]
    _check_groups_cover(groups, s.dim)
