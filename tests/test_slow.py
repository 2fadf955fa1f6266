"""Long checks, run by `make test-slow`: the known-optimum results hold across seeds, not just one."""

from __future__ import annotations

import pytest

from test_engine import BRANIN_MIN, HARTMANN3_MIN, continuous, run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", range(5))
def test_branin_within_one_percent_for_every_seed(tmp_path, seed):
    text_ = continuous(f"branin{seed}", ("function", "{function: branin}"), [(-5, 10), (0, 15)], seed=seed,
                       budget=40)
    _, report, _ = run(tmp_path, text_, f"sqlite:///{tmp_path / 'b.db'}")
    assert report.best <= BRANIN_MIN * 1.01, report.best


@pytest.mark.parametrize("seed", range(5))
def test_hartmann3_within_one_percent_for_every_seed(tmp_path, seed):
    text_ = continuous(f"h3{seed}", ("function", "{function: hartmann3}"), [(0, 1)] * 3, seed=seed, budget=30)
    _, report, _ = run(tmp_path, text_, f"sqlite:///{tmp_path / 'h.db'}")
    assert report.best <= HARTMANN3_MIN * 0.99, report.best


@pytest.mark.parametrize("seed", range(3))
def test_hartmann3_with_batches_of_four(tmp_path, seed):
    # same budget in batches of 4: kriging believer must keep batches useful
    text_ = continuous(f"h3b{seed}", ("function", "{function: hartmann3}"), [(0, 1)] * 3, seed=seed, budget=41,
                       batch=4)
    _, report, _ = run(tmp_path, text_, f"sqlite:///{tmp_path / 'hb.db'}")
    assert report.best <= HARTMANN3_MIN * 0.99, report.best
