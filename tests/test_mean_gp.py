"""The GP with a mean function (models/gp/mean.py): the mean function where there are no data, the residual
learned where there are, and a wrong mean function degrading toward a plain GP."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.models.gp import GPSurrogate
from orchestrator.models.gp.mean import MeanGP, fit_scale_offset


def source(X):
    return np.sin(6 * X[:, 0]) + X[:, 1]


def mean_fn(X):
    return source(X), np.full(len(X), 0.01)


def test_without_data_it_predicts_the_mean_function():
    model = MeanGP(base=GPSurrogate(seed=0), mean=mean_fn).fit(np.zeros((0, 2)), np.zeros(0))
    X = np.random.default_rng(0).random((50, 2))
    m, v = model.predict(X)
    np.testing.assert_allclose(m, source(X), rtol=0, atol=1e-12)
    assert np.all(v > 0.01)


def test_scale_and_offset_are_learned_and_shrunk_with_few_points():
    rng = np.random.default_rng(1)
    X = rng.random((40, 2))
    y = 3.0 * source(X) - 2.0
    a, b = fit_scale_offset(source(X), y, spread=float(np.std(y)))
    assert a == pytest.approx(3.0, rel=0.02) and b == pytest.approx(-2.0, abs=0.1)
    # one point cannot move the scale far from 1
    a1, _ = fit_scale_offset(source(X[:1]), y[:1], spread=float(np.std(y)))
    assert abs(a1 - 1.0) < 1.5


def test_the_mean_function_helps_where_it_is_right_and_a_wrong_one_degrades_to_a_plain_gp():
    rng = np.random.default_rng(2)
    X = rng.random((8, 2))
    y = 2.0 * source(X) + 1.0 + 0.1 * X[:, 0]
    Xg = rng.random((300, 2))
    truth = 2.0 * source(Xg) + 1.0 + 0.1 * Xg[:, 0]
    rmse = lambda m: float(np.sqrt(np.mean((m.predict(Xg)[0] - truth) ** 2)))  # noqa: E731
    plain = GPSurrogate(seed=0).fit(X, y)
    with_mean = MeanGP(base=GPSurrogate(seed=0), mean=mean_fn).fit(X, y)
    assert rmse(with_mean) < 0.3 * rmse(plain)
    # a mean function that has nothing to do with the data: no worse than the plain GP by much
    Xw = rng.random((30, 2))
    yw = np.cos(5 * Xw[:, 1])
    Xg2 = rng.random((300, 2))
    t2 = np.cos(5 * Xg2[:, 1])
    wrong = MeanGP(base=GPSurrogate(seed=0), mean=lambda Z: (np.sin(9 * Z[:, 0]), None)).fit(Xw, yw)
    plain2 = GPSurrogate(seed=0).fit(Xw, yw)
    e_wrong = float(np.sqrt(np.mean((wrong.predict(Xg2)[0] - t2) ** 2)))
    e_plain = float(np.sqrt(np.mean((plain2.predict(Xg2)[0] - t2) ** 2)))
    assert abs(wrong.scale) < 0.3
    assert e_wrong < 1.5 * e_plain + 0.02, (e_wrong, e_plain)
    loo_m, loo_v = with_mean.loo()
    assert loo_m.shape == (8,) and np.all(loo_v > 0)


def test_the_scale_is_never_negative():
    """A mean function the data run against (y = -m): the scale stops at 0 rather than turning the mean
    function upside down (in a closed loop that is how a misleading source leads a search to its lows);
    the offset is then the data's level. positive=False gives the unconstrained fit."""
    rng = np.random.default_rng(3)
    X = rng.random((20, 2))
    m = source(X)
    y = -m + 5.0 + rng.normal(0.0, 0.05, 20)
    spread = float(np.std(y))
    a, b = fit_scale_offset(m, y, spread)
    assert a == 0.0
    assert b == pytest.approx(np.mean(y), abs=0.3 * spread)
    a_free, _ = fit_scale_offset(m, y, spread, positive=False)
    assert a_free == pytest.approx(-1.0, abs=0.1)
    model = MeanGP(base=GPSurrogate(seed=0), mean=mean_fn).fit(X, y)
    assert model.scale == 0.0
    # the model is then a GP on the data alone: it follows y's shape, not the mean function's
    Xg = rng.random((200, 2))
    assert np.corrcoef(model.predict(Xg)[0], -source(Xg))[0, 1] > 0.8
