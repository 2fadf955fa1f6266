"""The sparse GP (SGPR) behind GPSurrogate, and the GP's fast paths: numpy losses equal to GPflow's,
predictions equal to GPflow's, the automatic switch, JSON state, fantasies, and pool selection that
picks exactly what the plain kriging-believer loop picks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acquisition.batch import select_from_pool
from acquisition.functions import ExpectedImprovement, MaxVariance, ProbabilityOfImprovement, UpperConfidenceBound
from orchestrator.models.gp import surrogate as gp_module, threads as gp_threads
from orchestrator.models.gp import sparse
from orchestrator.models.gp import Fitter, GPSurrogate, lengthscale_prior


def f(X):
    return np.sin(5 * X[:, 0]) + np.cos(3 * X[:, 1]) + 0.5 * X[:, 2] ** 2


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((300, 3))
    return X, f(X)


@pytest.fixture(scope="module")
def exact(data):
    return GPSurrogate(seed=0).fit(*data)


@pytest.fixture(scope="module")
def sgpr(data):
    return GPSurrogate(seed=0, sparse_above=100, inducing=96).fit(*data)


# --------------------------------------------------------------------------- numpy losses = GPflow's


@pytest.mark.parametrize("kind", ["matern52", "matern32", "rbf"])
def test_exact_gp_numpy_loss_and_gradient_equal_gpflow_training_loss(kind, data):
    X, y = data[0][:40], data[1][:40]
    z = (y - y.mean()) / y.std()
    fitter = Fitter.get(3, kind, lengthscale_prior("gamma", 3), 1e-6)
    fitter.set_data(X, z)
    rng = np.random.default_rng(1)
    for _ in range(3):
        u = rng.normal(size=5)
        loss_tf, grad_tf = fitter.gpflow_loss_and_grad(u)
        loss_np, grad_np = fitter.loss()(u)
        assert loss_np == pytest.approx(loss_tf, rel=1e-10)
        np.testing.assert_allclose(grad_np, grad_tf, rtol=1e-8, atol=1e-10)


def test_sparse_loss_gradient_and_prediction_equal_gpflow_sgpr(data):
    X, y = data[0][:120], data[1][:120]
    z = (y - y.mean()) / y.std()
    Z = sparse.greedy_inducing("matern52", X, np.full(3, 0.4), 1.0, 30)
    ref = sparse._SGPRModel.get(3, "matern52", lengthscale_prior("gamma", 3), 1e-6)
    loss_fn = sparse.SGPRLoss("matern52", X, z, Z, lengthscale_prior("gamma", 3), 1e-6)
    rng = np.random.default_rng(2)
    Xs = rng.random((50, 3))
    for _ in range(2):
        u = rng.normal(size=5) * 0.7
        ls, var, noise = loss_fn.params(u)
        ref.load(X, z, Z, ls, var, noise)
        loss_tf, grad_tf = ref._loss_and_grad(np.concatenate([u, Z.ravel()]))
        loss_np, grad_np = loss_fn(u)
        assert loss_np == pytest.approx(float(loss_tf), rel=1e-10)
        np.testing.assert_allclose(grad_np, grad_tf.numpy()[:5], rtol=1e-8, atol=1e-10)
        mean, var_ = sparse.SparsePosterior("matern52", X, z, Z, ls, var, noise).predict(Xs)
        gm, gv = ref.model.predict_f(Xs)
        np.testing.assert_allclose(mean, gm.numpy()[:, 0], atol=1e-8)
        np.testing.assert_allclose(var_, gv.numpy()[:, 0], atol=1e-8)


# --------------------------------------------------------------------------- the sparse model


def test_sparse_predictions_are_close_to_the_exact_gp(exact, sgpr):
    assert sgpr.sparse and not exact.sparse
    assert sgpr.fit_info["sparse"] and sgpr.fit_info["inducing"] == 96
    Xs = np.random.default_rng(3).random((400, 3))
    me, _ = exact.predict(Xs)
    ms, vs = sgpr.predict(Xs)
    spread = np.std(f(Xs))
    assert np.sqrt(np.mean((ms - me) ** 2)) < 0.05 * spread
    assert np.sqrt(np.mean((ms - f(Xs)) ** 2)) < 0.1 * spread
    assert np.all(vs > 0) and np.median(vs) < 0.05 * spread**2


def test_switches_to_sparse_above_the_threshold_and_warm_starts_from_the_exact_fit(data):
    X, y = data
    m = GPSurrogate(seed=1, sparse_above=60, inducing=32)
    m.fit(X[:60], y[:60])
    state = m.get_state()
    assert not m.sparse and not m.fit_info["sparse"] and "inducing_points" not in state
    nxt = GPSurrogate(seed=2, sparse_above=60, inducing=32)
    nxt.set_state(state)
    nxt.fit(X[:61], y[:61])
    assert nxt.sparse and nxt.fit_info["sparse"] and nxt.get_state()["sparse"] is True
    assert len(nxt.get_state()["inducing_points"]) == 32
    assert nxt.fit_info["starts"] == 1  # warm-started from the exact fit: no random restarts
    # no threshold: always exact
    assert not GPSurrogate(seed=0, sparse_above=None).fit(X[:61], y[:61]).sparse


def test_sparse_state_is_json_and_round_trips(data, sgpr):
    X, y = data
    text = json.dumps(sgpr.get_state())
    state = json.loads(text)
    assert state["schema_version"] == 1 and state["sparse"] is True
    assert np.array(state["inducing_points"]).shape == (96, 3)
    again = GPSurrogate(seed=9, sparse_above=100, inducing=96)
    again.set_state(state)
    assert again.get_state() == state
    again.fit(X, y)  # same data, warm start at the optimum, the same inducing points kept
    np.testing.assert_allclose(again.get_state()["inducing_points"], state["inducing_points"])
    np.testing.assert_allclose(again.get_state()["lengthscales"], state["lengthscales"], rtol=1e-4)
    Xs = np.random.default_rng(4).random((20, 3))
    np.testing.assert_allclose(again.predict(Xs)[0], sgpr.predict(Xs)[0], atol=1e-4)


def test_a_sparse_fit_is_restored_from_its_json_state_without_fitting(data, sgpr, monkeypatch):
    """``restore`` rebuilds the sparse posterior from the state's hyperparameters and inducing points
    (what a transfer model does with a sparse source GP at every step, and after a resume): its predictions
    are the fitted model's to rounding, and no loss is evaluated."""
    X, y = data
    state = json.loads(json.dumps(sgpr.get_state()))
    monkeypatch.setattr(sparse, "_minimize", lambda *a, **k: pytest.fail("restore must not fit"))
    again = GPSurrogate(seed=9, sparse_above=100, inducing=96).restore(X, y, state)
    Xs = np.random.default_rng(4).random((20, 3))
    for a, b in zip(again.predict(Xs), sgpr.predict(Xs)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="inducing points"):
        GPSurrogate(seed=9, sparse_above=100).restore(X, y, dict(state, inducing_points=[[0.5, 0.5]]))


def test_sparse_fantasies_shrink_the_variance_there_and_keep_the_model(sgpr):
    rng = np.random.default_rng(5)
    cand = rng.random((2000, 3))
    Xf = cand[np.argsort(-sgpr.predict(cand)[1])[[0, 50]]]  # where the model is unsure
    Xs = np.vstack([Xf, rng.random((30, 3))])
    m0, v0 = sgpr.predict(Xs)
    cond = sgpr.condition(Xf)
    m1, v1 = cond.predict(Xs)
    assert np.all(v1[:2] < 0.2 * v0[:2])
    # elsewhere the variance stays (new inducing points can move the approximation by a hair either way)
    assert np.all(v1 <= 1.01 * v0 + 1e-9)
    np.testing.assert_allclose(m1[:2], m0[:2], atol=1e-3 * np.std(m0))
    np.testing.assert_allclose(sgpr.predict(Xs)[1], v0)  # the original is untouched
    pool = rng.random((300, 3))
    picks = select_from_pool(sgpr, MaxVariance(), pool, 3, best=0.0)
    assert len(set(picks)) == 3


def test_failed_sparse_fit_keeps_the_last_good_hyperparameters(data, sgpr, monkeypatch):
    X, y = data
    good = sgpr.get_state()
    m = GPSurrogate(seed=3, sparse_above=100, inducing=96)
    m.set_state(good)

    def broken(*args, **kwargs):
        raise FloatingPointError("simulated")

    monkeypatch.setattr(sparse, "_minimize", broken)
    m.fit(X, y)
    assert m.fit_info["fallback"] and m.get_state()["lengthscales"] == good["lengthscales"]
    assert np.all(np.isfinite(m.predict(X[:5])[0]))


# --------------------------------------------------------------------------- exact GP fast paths


def test_restarts_run_on_every_kth_fit_when_warm_started(data):
    X, y = data
    state, starts = None, []
    for n in range(20, 27):
        m = GPSurrogate(seed=n, restart_every=3)
        if state:
            m.set_state(state)
        m.fit(X[:n], y[:n])
        starts.append(m.fit_info["starts"])
        state = m.get_state()
    assert starts[0] == 3  # no warm start: every start
    assert starts[1:].count(3) <= 3 and starts[1:].count(1) >= 3
    assert all(s in (1, 3) for s in starts)


def test_threaded_prediction_equals_single_threaded(exact, monkeypatch):
    Xs = np.random.default_rng(6).random((3000, 3))
    m1, v1 = exact.predict(Xs)
    monkeypatch.setattr(gp_threads, "THREADED_ELEMS", 1)
    m2, v2 = exact.predict(Xs)
    np.testing.assert_allclose(m2, m1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v2, v1, rtol=0, atol=1e-12)


def test_variance_bound_is_above_the_variance(exact, monkeypatch):
    monkeypatch.setattr(gp_module, "_BOUND_ELEMS", 1)
    Xs = np.vstack([np.random.default_rng(7).random((2000, 3)), exact._post.X[:5]])
    mean, upper, is_exact = exact.predict_bound(Xs)
    m, v = exact.predict(Xs)
    assert not is_exact
    np.testing.assert_allclose(mean, m, atol=1e-10)
    assert np.all(upper >= v)


def test_pool_posterior_equals_conditioning_and_predicting_again(exact):
    rng = np.random.default_rng(8)
    pool = rng.random((500, 3))
    pp = exact.pool_posterior(pool)
    model = exact
    for j in (3, 77, 200):
        pp.condition(j)
        model = model.condition(pool[j : j + 1])
        m1, v1 = pp.predict()
        m2, v2 = model.predict(pool)
        np.testing.assert_allclose(m1, m2, atol=1e-8)
        np.testing.assert_allclose(v1, v2, atol=1e-10)


class _Plain:
    """A GP without its fast paths: the plain kriging-believer loop."""

    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return self.model.predict(X)

    def condition(self, X):
        return _Plain(self.model.condition(X))


@pytest.mark.parametrize("acq", [ExpectedImprovement(), UpperConfidenceBound(beta=0.3), MaxVariance(),
                                 ProbabilityOfImprovement()], ids=lambda a: type(a).__name__)
@pytest.mark.parametrize("q", [1, 4])
def test_pool_selection_fast_paths_pick_what_the_plain_loop_picks(acq, q, data, monkeypatch):
    monkeypatch.setattr(gp_module, "_BOUND_ELEMS", 1)  # use the variance bound even on this small pool
    X, y = data
    model = GPSurrogate(seed=0).fit(X[:60], y[:60])
    rng = np.random.default_rng(9)
    pool = rng.random((2000, 3))
    avail = rng.random(2000) > 0.2
    pending = pool[[5, 17]]
    for pend in (None, pending):
        fast = select_from_pool(model, acq, pool, q, best=float(y[:60].max()), available=avail, pending_X=pend)
        plain = select_from_pool(_Plain(model), acq, pool, q, best=float(y[:60].max()), available=avail,
                                 pending_X=pend)
        assert fast == plain


def test_the_gp_worker_threads_follow_the_callers_floating_point_error_state():
    """numpy's error state is per thread. A loss evaluated under np.errstate(all="ignore") (loss.guarded, at
    an extreme line-search step) must not print RuntimeWarnings from the sparse GP's worker threads: they
    ran with numpy's default state, and a 5,000-row source GP's fit printed 'divide by zero'."""
    import warnings

    from orchestrator.models.gp.threads import parallel

    def divide() -> float:
        return float(np.float64(1.0) / np.zeros(1)[0])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="ignore"):
            assert parallel([divide, divide, divide]) == [np.inf] * 3
    with np.errstate(divide="raise"):  # and a stricter state reaches them too
        with pytest.raises(FloatingPointError):
            parallel([divide, divide])
