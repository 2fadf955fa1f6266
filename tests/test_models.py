"""The surrogate models: real GPflow fits, numpy prediction, fantasies, state, failure handling."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from acquisition.batch import Geometry, select_continuous, select_from_pool
from acquisition.functions import ExpectedImprovement, MaxVariance
from orchestrator.models.forest import RandomForestSurrogate
from orchestrator.models.gp import Fitter, GPSurrogate, lengthscale_prior


def f(X):
    return np.sin(6 * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    return X, f(X)


@pytest.fixture(scope="module")
def gp(data):
    return GPSurrogate(seed=1).fit(*data)


def test_gp_numpy_prediction_equals_gpflow_predict_f(gp, data):
    X, y = data
    rng = np.random.default_rng(1)
    Xs = rng.random((200, 3))
    mean, var = gp.predict(Xs)
    state = gp.get_state()
    fitter = Fitter.get(3, "matern52", lengthscale_prior("gamma", 3), gp.noise_floor)
    fitter.set_params(np.array(state["lengthscales"]), state["variance"], state["noise"])
    fitter.X.assign(X)
    fitter.Y.assign(((y - gp._std.mean) / gp._std.std)[:, None])
    gm, gv = fitter.model.predict_f(Xs)
    np.testing.assert_allclose(mean, gm.numpy()[:, 0] * gp._std.std + gp._std.mean, atol=1e-8)
    np.testing.assert_allclose(var, gv.numpy()[:, 0] * gp._std.std ** 2, atol=1e-8)


def test_gp_learns_the_function(gp):
    rng = np.random.default_rng(2)
    Xs = rng.random((300, 3))
    mean, var = gp.predict(Xs)
    rmse = float(np.sqrt(np.mean((mean - f(Xs)) ** 2)))
    assert rmse < 0.05 * np.std(f(Xs)), rmse
    # calibrated-ish: most errors within 3 standard deviations
    z = np.abs(mean - f(Xs)) / np.sqrt(var)
    assert np.mean(z < 3) > 0.9
    # the first input varies fastest, so it has the shortest lengthscale
    ls = gp.get_state()["lengthscales"]
    assert ls[0] < ls[1] and ls[0] < ls[2]


def test_gp_variance_small_at_data_large_far_away(gp, data):
    X, _ = data
    _, v_at = gp.predict(X[:5])
    _, v_far = gp.predict(np.full((1, 3), 3.0))
    assert v_at.max() < 1e-2 * v_far[0]


def test_fantasies_keep_the_mean_and_shrink_the_variance(gp):
    rng = np.random.default_rng(3)
    Xs = rng.random((50, 3))
    m0, v0 = gp.predict(Xs)
    cond = gp.condition(Xs[:2])
    m1, v1 = cond.predict(Xs)
    np.testing.assert_allclose(m1, m0, atol=1e-8)
    assert np.all(v1 <= v0 + 1e-12)
    assert v1[0] < 0.05 * v0[0] and v1[1] < 0.05 * v0[1]
    # the original model is untouched
    np.testing.assert_allclose(gp.predict(Xs)[1], v0)


def test_state_is_json_and_warm_starts_a_new_model(gp, data):
    state = gp.get_state()
    text = json.dumps(state)
    assert json.loads(text)["schema_version"] == 1
    other = GPSurrogate(seed=5, restarts=0)
    other.set_state(json.loads(text))
    other.fit(*data)
    np.testing.assert_allclose(other.get_state()["lengthscales"], state["lengthscales"], rtol=1e-3)


@pytest.mark.parametrize("damage", [{"lengthscales": -1.0}, {"variance": float("nan")}, {"noise": -0.5}])
def test_a_stored_state_with_nonsense_hyperparameters_is_not_a_warm_start(gp, data, damage, caplog):
    """Fuzz round twenty: a stored state edited to a negative lengthscale (or a nan variance) warm-started the
    fit from it, with numpy's raw 'invalid value encountered in log'. It is said and the default start used: the
    fit is then the same as a model's without a stored state."""
    import warnings

    state = gp.get_state()
    key, value = next(iter(damage.items()))
    state[key] = [value] * len(state[key]) if key == "lengthscales" else value
    damaged, fresh = GPSurrogate(seed=5, restarts=0), GPSurrogate(seed=5, restarts=0)
    damaged.set_state(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with caplog.at_level(logging.WARNING, logger="looplab.models.gp"):
            damaged.fit(*data)
    assert "the stored GP hyperparameters are not all positive finite numbers" in caplog.text
    fresh.fit(*data)
    np.testing.assert_allclose(damaged.get_state()["lengthscales"], fresh.get_state()["lengthscales"], rtol=1e-6)


def test_failed_fit_falls_back_to_last_good_hyperparameters(gp, data, monkeypatch, caplog):
    good = gp.get_state()
    model = GPSurrogate(seed=3)
    model.set_state(good)

    def broken(self, maxiter):
        raise FloatingPointError("simulated: Cholesky decomposition was not successful")

    monkeypatch.setattr(Fitter, "minimize", broken)
    with caplog.at_level(logging.WARNING, logger="looplab.models.gp"):
        model.fit(*data)
    assert model.fit_info["fallback"] is True
    assert model.fit_info["failed_starts"] == 2 * 3  # every start, at both jitter levels
    assert model.get_state()["lengthscales"] == good["lengthscales"]
    assert "keeping the last good hyperparameters" in caplog.text
    mean, var = model.predict(data[0][:3])  # still usable
    assert np.all(np.isfinite(mean)) and np.all(var > 0)


def test_gp_handles_constant_and_single_observations():
    X = np.array([[0.2, 0.3], [0.8, 0.1], [0.5, 0.5]])
    m = GPSurrogate(seed=0).fit(X, np.ones(3))
    mean, var = m.predict(np.array([[0.4, 0.4]]))
    assert mean[0] == pytest.approx(1.0, abs=1e-6) and np.isfinite(var[0])
    m1 = GPSurrogate(seed=0).fit(X[:1], np.array([2.5]))
    mean, var = m1.predict(X)
    assert np.all(np.isfinite(mean)) and np.all(var > 0)


@pytest.mark.parametrize("scale", [1e-13, 1e-100, 1e120])
def test_gp_predictions_scale_with_the_objective_however_small(data, scale):
    """Found by the fuzz round of 2026-12-04 (evening): an objective around 1e-13 (a diffusivity in m^2/s)
    had a spread below the Standardizer's absolute floor of 1e-12, so the GP modelled it as flat. The
    model must not depend on the objective's unit: y * scale predicts scale times what y predicts."""
    X, y = data
    rng = np.random.default_rng(3)
    Xs = rng.random((50, 3))
    mean, var = GPSurrogate(seed=1).fit(X, y).predict(Xs)
    ms, vs = GPSurrogate(seed=1).fit(X, y * scale).predict(Xs)
    np.testing.assert_allclose(ms / scale, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vs / scale ** 2, var, rtol=1e-4, atol=1e-8)


def test_a_spread_below_rounding_is_taken_for_a_constant():
    from orchestrator.models.base import spread_of

    assert spread_of(np.array([1.0, 1.0 + 1e-15])) == 0.0  # rounding of a constant
    assert spread_of(np.array([3e-13, 3.2e-13])) == pytest.approx(1e-14)  # small units, not a constant
    assert spread_of(np.array([0.0, 1e-160])) == 0.0  # its square would underflow
    assert spread_of(np.array([2.5])) == 0.0


def test_bad_training_data_is_a_clear_error():
    from orchestrator.models.base import ModelError

    with pytest.raises(ModelError, match="NaN"):
        GPSurrogate().fit(np.array([[0.1], [0.2]]), np.array([1.0, np.nan]))
    with pytest.raises(ModelError, match="X must be"):
        GPSurrogate().fit(np.zeros((3, 2)), np.zeros(4))


def test_random_forest_mean_and_spread(data):
    X, y = data
    rf = RandomForestSurrogate(seed=0, n_estimators=100).fit(X, y)
    Xs = np.random.default_rng(4).random((100, 3))
    mean, var = rf.predict(Xs)
    assert mean.shape == (100,) and var.shape == (100,) and np.all(var > 0)
    assert np.corrcoef(mean, f(Xs))[0, 1] > 0.8
    cond = rf.condition(Xs[:1])
    assert cond._X.shape[0] == X.shape[0] + 1


# --------------------------------------------------------------------------- batch selection


def test_pool_batch_is_distinct_and_respects_availability(gp):
    rng = np.random.default_rng(5)
    pool = rng.random((300, 3))
    avail = np.ones(300, dtype=bool)
    avail[:50] = False
    chosen = select_from_pool(gp, ExpectedImprovement(), pool, 5, best=1.0, available=avail)
    assert len(set(chosen)) == 5 and all(c >= 50 for c in chosen)


@pytest.mark.parametrize("acq", [ExpectedImprovement(), MaxVariance()])
def test_pool_selection_is_pending_aware(acq):
    rng = np.random.default_rng(5)
    X = rng.random((8, 3))  # little data: uncertainty matters, as early in a campaign
    gp = GPSurrogate(seed=0).fit(X, f(X))
    pool = rng.random((300, 3))
    best = float(f(X).max())
    first = select_from_pool(gp, acq, pool, 1, best=best)[0]
    # the same point already running: it (and its close neighbours) must not be chosen again
    again = select_from_pool(gp, acq, pool, 1, best=best, pending_X=pool[[first]])[0]
    assert again != first
    assert np.linalg.norm(pool[again] - pool[first]) > 0.05


def test_max_variance_batch_spreads_out(gp):
    rng = np.random.default_rng(6)
    pool = rng.random((400, 3))
    chosen = select_from_pool(gp, MaxVariance(), pool, 4, best=0.0)
    P = pool[chosen]
    d = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))[np.triu_indices(4, 1)]
    assert d.min() > 0.1  # kriging believer: later picks avoid the earlier ones


def test_continuous_selection_stays_on_the_constraint(gp):
    rng = np.random.default_rng(7)
    # x0 + x1 + x2 = 1 in the unit cube (the encoded form of a mixture constraint)
    raw = rng.dirichlet(np.ones(3), size=256)
    geo = Geometry(mask=np.ones(3, dtype=bool), A_eq=np.ones((1, 3)), b_eq=np.array([1.0]))
    X = select_continuous(gp, ExpectedImprovement(), raw, 3, best=1.0, geometry=geo)
    assert X.shape == (3, 3)
    np.testing.assert_allclose(X.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(X >= -1e-9) and np.all(X <= 1 + 1e-9)


# ----------------------------------------------------------------------------- interaction features


def ridge(X):
    """A ridge along x1 * x2 = 0.3: stationary in the product, not in x1 or x2."""
    return np.exp(-((X[:, 0] * X[:, 1] - 0.3) ** 2) / 0.005)


def test_interaction_features_learn_a_product_ridge_better():
    rng = np.random.default_rng(3)
    X, Xt = rng.random((40, 2)), rng.random((400, 2))
    errors = {}
    for mode in (False, True):
        m = GPSurrogate(seed=0, interactions=mode).fit(X, ridge(X))
        errors[mode] = float(np.sqrt(np.mean((m.predict(Xt)[0] - ridge(Xt)) ** 2)))
        assert m.get_state()["interactions"] is mode
        assert len(m.get_state()["lengthscales"]) == (3 if mode else 2)  # x1, x2, x1*x2
    assert errors[True] < 0.7 * errors[False], errors


def check_prediction_paths(m: GPSurrogate, Xs: np.ndarray, bound_X: np.ndarray) -> None:
    """The pool posterior equals predict, before and after a fantasy at row 7 (as condition + predict),
    and predict_bound gives predict's mean and a variance no smaller."""
    mean, var = m.predict(Xs)
    pool = m.pool_posterior(Xs)
    pm, pv = pool.predict()
    assert np.allclose(pm, mean) and np.allclose(pv, var)
    pool.condition(7)
    cm, cv = m.condition(Xs[7:8]).predict(Xs)
    assert np.allclose(pool.predict()[0], cm, atol=1e-8) and np.allclose(pool.predict()[1], cv, atol=1e-8)
    bm, bv, _ = m.predict_bound(bound_X)
    em, ev = m.predict(bound_X)
    assert np.allclose(bm, em) and np.all(bv >= ev - 1e-9)


def test_interaction_features_keep_every_prediction_path_consistent():
    rng = np.random.default_rng(4)
    X, Xs = rng.random((30, 3)), rng.random((50, 3))
    m = GPSurrogate(seed=0, interactions="auto").fit(X, f(X))
    assert len(m.get_state()["lengthscales"]) == 6  # 3 inputs + 3 products
    check_prediction_paths(m, Xs, Xs)
    m.fit(np.vstack([X, Xs[:1]]), f(np.vstack([X, Xs[:1]])))  # warm start from the 6-dimensional state
    assert len(m.get_state()["lengthscales"]) == 6
    five = GPSurrogate(seed=0, interactions="auto").fit(rng.random((20, 5)), rng.random(20))
    assert five.get_state()["interactions"] is False  # auto: only up to 4 inputs


@pytest.mark.parametrize("pool, n_inputs, expected", [(True, 3, True), (True, 4, True), (True, 5, False),
                                                      (False, 3, False), (True, 1, False)])
def test_interactions_auto_is_on_for_pools_of_two_to_four_inputs_only(pool, n_inputs, expected):
    from orchestrator.models.base import ModelContext

    m = GPSurrogate.from_config(GPSurrogate.Config(), ModelContext(seed=0, n_inputs=n_inputs, pool=pool))
    assert m.interactions is expected
    assert GPSurrogate.from_config(GPSurrogate.Config(interactions=True),
                                   ModelContext(seed=0, n_inputs=n_inputs, pool=pool)).interactions is True


def test_single_threaded_blas_holds_in_every_thread():
    """BLAS runs on one thread inside the GP whichever thread fits, also when another (still running)
    thread set the limit first, as in the daemon: threadpoolctl >= 3.8 would otherwise ignore the
    second thread's limit, and 2-thread OpenBLAS rounds differently (continuous campaigns drifted)."""
    import threading

    from threadpoolctl import threadpool_info

    from oracles.blas import single_threaded_blas

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    entered, release = threading.Event(), threading.Event()

    def first() -> None:
        with single_threaded_blas:
            pass
        entered.set()
        release.wait(30)  # stays alive, like a daemon's worker thread

    t = threading.Thread(target=first)
    t.start()
    try:
        entered.wait(30)
        with single_threaded_blas:
            assert blas_threads() and set(blas_threads()) == {1}
    finally:
        release.set()
        t.join()


# --------------------------------------------------------------------------- the rank mixture (pools)


def test_rank_warp_maps_each_column_to_its_average_rank_among_the_candidates():
    from orchestrator.models.gp import RankWarp

    C = np.array([[0.0, 1.0], [0.0, 0.2], [0.5, 0.1], [1.0, 0.0]])
    w = RankWarp(C)
    # column 0: 0 twice (ranks 0, 1 -> 0.5 of 3), 0.5 (rank 2), 1 (rank 3); /3 to [0, 1]
    assert np.allclose(w(C)[:, 0], [0.5 / 3, 0.5 / 3, 2 / 3, 1.0])
    assert np.allclose(w(C)[:, 1], [1.0, 2 / 3, 1 / 3, 0.0])
    # between candidates: linear; outside: clamped to the end ranks
    assert np.allclose(w(np.array([[0.25, 0.15], [2.0, -1.0]])), [[(0.5 / 3 + 2 / 3) / 2, 0.5], [1.0, 0.0]])


def test_on_hyperplane_finds_mixtures_and_one_hot_columns():
    from orchestrator.models.gp import on_hyperplane

    rng = np.random.default_rng(0)
    fractions = rng.dirichlet([1, 1, 1], size=80)
    fractions[:, 2] += rng.normal(0, 1e-4, 80)  # rounding in the data file
    assert on_hyperplane(fractions)
    assert not on_hyperplane(rng.random((80, 3)))
    assert on_hyperplane(np.eye(3)[rng.integers(0, 3, 50)])
    assert not on_hyperplane(rng.random((80, 1)))  # one input: nothing to constrain


@pytest.mark.parametrize("kind, expected", [("box", True), ("mixture", False), ("continuous", False)])
def test_rank_inputs_auto_is_on_for_pools_off_the_hyperplane(kind, expected):
    from orchestrator.models.base import ModelContext

    rng = np.random.default_rng(1)
    C = {"box": rng.random((60, 3)), "mixture": rng.dirichlet([1, 1, 1], size=60), "continuous": None}[kind]
    ctx = ModelContext(seed=0, n_inputs=3, pool=C is not None, candidates=C)
    assert GPSurrogate.from_config(GPSurrogate.Config(), ctx).rank_inputs is expected
    off = GPSurrogate.from_config(GPSurrogate.Config(rank_inputs=False), ctx)
    assert off.rank_inputs is False
    assert off.fit(C if C is not None else rng.random((60, 3)), rng.random(60)).rank_weight is None


def crowded_pool(n=300, seed=0):
    """A pool whose first input crowds into [0.4, 0.5] (80% of candidates), varying fast there."""
    rng = np.random.default_rng(seed)
    x0 = np.where(rng.random(n) < 0.8, rng.uniform(0.4, 0.5, n), rng.random(n))
    C = np.column_stack([x0, rng.random(n)])
    y = np.sin(60 * (C[:, 0] - 0.4)) + 0.3 * C[:, 1]
    return C, y


def test_rank_mixture_is_consistent_on_every_prediction_path():
    from orchestrator.models.gp import mix as _mix, loo_closed_form, loo_log_densities, pseudo_bma_plus_weight

    C, y = crowded_pool()
    idx = np.random.default_rng(2).choice(len(C), 40, replace=False)
    X, Xs = C[idx], C[:80]
    m = GPSurrogate(seed=0, interactions=True, rank_inputs=True, candidates=C).fit(X, y[idx])
    plain = GPSurrogate(seed=0, interactions=True).fit(X, y[idx])
    w = m.rank_weight
    # the weight is the pseudo-BMA+ weight of the two components' exact LOO densities, drawn from the model's seed
    d = loo_log_densities(m._ranked[0]) - loo_log_densities(m._post)
    assert w == pseudo_bma_plus_weight(d, np.random.default_rng(0))
    # from here on, a weight that gives both components a say (the fit's weight may be near 0 or 1)
    w = 0.4
    m._ranked = (m._ranked[0], w)
    m._state["rank_weight"] = w
    # the plain component is exactly the plain GP (same fit, same warm-start-free starts)
    assert np.allclose(m._post.predict(m._features(Xs))[0], plain._post.predict(plain._features(Xs))[0])
    mean, var = m.predict(Xs)
    s = m._std.std
    (m1, v1), (m2, v2) = m._post.predict(m._features(Xs)), m._ranked[0].predict(m._ranked_features(Xs))
    mm, mv = _mix(m1, v1, m2, v2, w)
    assert np.allclose(mean, mm * s + m._std.mean) and np.allclose(var, mv * s**2)
    # enough candidates x observations (>= 2^20) for predict_bound to take its bound path, not predict
    big = np.random.default_rng(5).random((27_000, 2))
    assert len(big) * len(X) >= 1 << 20
    check_prediction_paths(m, Xs, big)
    assert m.predict_bound(big)[2] is False
    # LOO of the mixture: each component's exact LOO, mixed with the same weight
    lm, lv = m.loo()
    (a, av), (b, bvv) = loo_closed_form(m._post.L, m._post.z), loo_closed_form(m._ranked[0].L, m._ranked[0].z)
    xm, xv = _mix(a, av, b, bvv, w)
    assert np.allclose(lm, xm * s + m._std.mean) and np.allclose(lv, xv * s**2)
    # both components warm-start from the state (it round-trips through JSON)
    state = json.loads(json.dumps(m.get_state()))
    assert len(state["ranked"]["lengthscales"]) == 3 and state["rank_weight"] == w
    again = GPSurrogate(seed=0, interactions=True, rank_inputs=True, candidates=C, restarts=0)
    again.set_state(state)
    again.fit(X, y[idx])
    assert again.fit_info["starts"] == 2  # one warm start per component, no restarts
    got = again.get_state()  # the same data: both warm starts stay at their optimum
    assert np.allclose(got["lengthscales"], state["lengthscales"], rtol=1e-3)
    assert np.allclose(got["ranked"]["lengthscales"], state["ranked"]["lengthscales"], rtol=1e-3)


def test_rank_component_wins_where_the_function_follows_the_candidates_density():
    """A function that varies evenly in rank (fast where the candidates crowd, slowly elsewhere) is
    non-stationary for the plain GP and stationary for the GP on ranked inputs: its left-out points are
    predicted better there, so the mixture leans on it and predicts the rest of the pool better."""
    from orchestrator.models.gp import RankWarp

    rng = np.random.default_rng(1)
    C, _ = crowded_pool(seed=1)
    y = np.sin(2 * np.pi * RankWarp(C)(C)[:, 0]) + 0.3 * C[:, 1] + rng.normal(0, 0.05, len(C))
    idx = rng.choice(len(C), 60, replace=False)
    rest = np.setdiff1d(np.arange(len(C)), idx)
    m = GPSurrogate(seed=0, rank_inputs=True, candidates=C).fit(C[idx], y[idx])
    plain = GPSurrogate(seed=0).fit(C[idx], y[idx])
    assert m.rank_weight > 0.99
    err = lambda model: float(np.sqrt(np.mean((model.predict(C[rest])[0] - y[rest]) ** 2)))  # noqa: E731
    assert err(m) < 0.8 * err(plain)


def test_pseudo_bma_plus_weight_on_hand_made_differences():
    from orchestrator.models.gp import pseudo_bma_plus_weight

    rng = np.random.default_rng(0)
    # equal differences: every bootstrap draw sums to N * c, so the weight is exactly sigmoid(N * c)
    assert pseudo_bma_plus_weight(np.full(10, 0.1), rng) == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-12)
    assert pseudo_bma_plus_weight(np.zeros(7), rng) == pytest.approx(0.5)
    # the same total evidence from one outlier point is far less sure than from all points
    spread, outlier = np.full(20, 0.25), np.r_[np.zeros(19), 5.0]
    assert pseudo_bma_plus_weight(spread, rng) > 0.99
    assert 0.5 < pseudo_bma_plus_weight(outlier, rng) < 0.9
    # plain pseudo-BMA would give both 1 / (1 + e^-5) = 0.993
    assert pseudo_bma_plus_weight(-spread, rng) < 0.01
