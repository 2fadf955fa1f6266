"""The multi-task (ICM) GP of the GP core: its kernel by hand, its loss and gradient against the same model
built from GPflow's kernels, and that a correlated source task makes the target's predictions better."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.models.gp import GPSurrogate, Tie, lengthscale_prior
from orchestrator.models.base import ModelError
from orchestrator.models.gp.multitask import MultiTaskGP, MultiTaskLoss, cross_task_kernel


def test_icm_kernel_against_values_by_hand():
    """k((a, s), (b, t)) = (w_s w_t + [s = t] kappa_s) * matern52(|a - b| / l)."""
    w, kappa = np.array([0.8, 1.2]), np.array([0.1, 0.3])
    B = np.outer(w, w) + np.diag(kappa)
    a, b = np.array([[0.1, 0.5]]), np.array([[0.4, 0.1], [0.1, 0.5]])
    ls = np.array([0.5, 1.0])
    K = cross_task_kernel("matern52", a, b, ls, B, [0], [1, 0])[0]
    r = math.sqrt((0.3 / 0.5) ** 2 + (0.4 / 1.0) ** 2)  # sqrt(0.52)
    s = math.sqrt(5) * r
    c = (1 + s + s * s / 3) * math.exp(-s)
    assert c == pytest.approx(0.69373, abs=1e-4)
    np.testing.assert_allclose(K, [0.8 * 1.2 * c, 0.8 * 0.8 + 0.1], rtol=1e-12)


def _gpflow_reference(X, z, task, T, u, prior, floor, own_prior=None):
    """The same negative log marginal likelihood + priors from GPflow's Coregion and Matern52 kernels (with
    ``own_prior``: kappa_0 times a second Matern52 of the target's own, on the target's rows)."""
    import gpflow
    import tensorflow as tf
    import tensorflow_probability as tfp

    q = X.shape[1]
    uv = tf.Variable(u)
    with tf.GradientTape() as tape:
        sp = tf.nn.softplus(uv)
        ls, w, kappa, noise = sp[:q], sp[q:q + T], sp[q + T:q + 2 * T], floor + sp[q + 2 * T:q + 3 * T]
        k_in = gpflow.kernels.Matern52(variance=1.0, lengthscales=np.ones(q))
        coreg = gpflow.kernels.Coregion(output_dim=T, rank=1)
        k_in.lengthscales = ls  # use the tensors directly (the reference's parameters are u)
        coreg.W = tf.reshape(w, (T, 1))
        is_source = tf.constant((np.arange(T) > 0).astype(float))
        coreg.kappa = kappa * is_source if own_prior is not None else kappa
        K = k_in.K(X) * coreg.K(task[:, None].astype(float)) + tf.linalg.diag(tf.gather(noise, task))
        lp = tf.constant(0.0, tf.float64)
        if own_prior is not None:
            ls0 = sp[q + 3 * T:]
            k_own = gpflow.kernels.Matern52(variance=1.0, lengthscales=np.ones(q))
            k_own.lengthscales = ls0
            target = tf.constant((task == 0).astype(float))
            K = K + kappa[0] * k_own.K(X) * target[:, None] * target[None, :]
            lp += tf.reduce_sum(own_prior.tfp().log_prob(ls0))
        mvn = tfp.distributions.MultivariateNormalTriL(tf.zeros(len(z), tf.float64), tf.linalg.cholesky(K))
        f64 = lambda x: tf.constant(x, tf.float64)  # noqa: E731
        lp += (mvn.log_prob(z)
               + tf.reduce_sum(prior.tfp().log_prob(ls))
               + tf.reduce_sum(tfp.distributions.Gamma(f64(2.0), f64(1.0)).log_prob(w))
               + tf.reduce_sum(tfp.distributions.Gamma(f64(1.1), f64(1.0)).log_prob(kappa))
               + tf.reduce_sum(tfp.distributions.Gamma(f64(1.1), f64(0.05)).log_prob(noise)))
        loss = -lp
    return float(loss.numpy()), tape.gradient(loss, uv).numpy()


@pytest.mark.parametrize("own", [False, True])
def test_multitask_loss_and_gradient_equal_gpflows_coregion_model(own):
    rng = np.random.default_rng(0)
    X = rng.random((25, 2))
    task = rng.integers(0, 3, 25)
    z = rng.normal(size=25)
    prior = lengthscale_prior("gamma", 2)
    own_prior = lengthscale_prior("long", 2) if own else None  # another prior than the shared kernel's
    loss_fn = MultiTaskLoss("matern52", X, z, task, 3, prior, 1e-6, Tie.none(2), own_prior)
    for _ in range(3):
        u = rng.normal(size=2 + 9 + (2 if own else 0)) * 0.7
        loss_np, grad_np = loss_fn(u)
        loss_tf, grad_tf = _gpflow_reference(X, z, task, 3, u, prior, 1e-6, own_prior)
        assert loss_np == pytest.approx(loss_tf, rel=1e-9)
        np.testing.assert_allclose(grad_np, grad_tf, rtol=1e-7, atol=1e-9)


def _pair(n_source: int, n_target: int, seed: int):
    """A source and a target function sharing their shape (target = 2 * source + 5 + a small difference)."""
    rng = np.random.default_rng(seed)
    def source(X):
        return np.sin(6 * X[:, 0]) + np.cos(4 * X[:, 1])
    def target(X):
        return 2.0 * source(X) + 5.0 + 0.2 * X[:, 0]
    Xs, Xt = rng.random((n_source, 2)), rng.random((n_target, 2))
    return Xs, source(Xs), Xt, target(Xt), target


def test_a_correlated_source_makes_the_target_predictions_better():
    Xs, ys, Xt, yt, target = _pair(60, 6, 1)
    X = np.vstack([Xt, Xs])
    y = np.concatenate([yt, ys])
    task = np.concatenate([np.zeros(len(Xt), int), np.ones(len(Xs), int)])
    mt = MultiTaskGP(seed=0).fit(X, y, task)
    plain = GPSurrogate(seed=0).fit(Xt, yt)
    Xg = np.random.default_rng(9).random((300, 2))
    truth = target(Xg)
    rmse_mt = float(np.sqrt(np.mean((mt.predict(Xg)[0] - truth) ** 2)))
    rmse_plain = float(np.sqrt(np.mean((plain.predict(Xg)[0] - truth) ** 2)))
    assert rmse_mt < 0.5 * rmse_plain, (rmse_mt, rmse_plain)
    assert mt.task_correlations()[0, 1] > 0.8
    # fantasies on the target task shrink the variance there, and the state warm-starts a refit
    xq = Xg[:1]
    assert mt.condition(xq).predict(xq)[1][0] < mt.predict(xq)[1][0]
    again = MultiTaskGP(seed=0)
    again.set_state(mt.get_state())
    again.fit(X, y, task)
    assert again.get_state()["loss"] == pytest.approx(mt.get_state()["loss"], rel=1e-6)


def test_an_unrelated_source_does_not_hurt_the_target():
    rng = np.random.default_rng(3)
    Xs, Xt = rng.random((60, 2)), rng.random((25, 2))
    ys = rng.permutation(np.sin(6 * Xs[:, 0]))  # the source's values shuffled across its rows: no shared shape
    yt = np.sin(6 * Xt[:, 0]) + np.cos(4 * Xt[:, 1])
    X = np.vstack([Xt, Xs])
    task = np.concatenate([np.zeros(25, int), np.ones(60, int)])
    mt = MultiTaskGP(seed=0).fit(X, np.concatenate([yt, ys]), task)
    plain = GPSurrogate(seed=0).fit(Xt, yt)
    Xg = rng.random((300, 2))
    truth = np.sin(6 * Xg[:, 0]) + np.cos(4 * Xg[:, 1])
    rmse_mt = float(np.sqrt(np.mean((mt.predict(Xg)[0] - truth) ** 2)))
    rmse_plain = float(np.sqrt(np.mean((plain.predict(Xg)[0] - truth) ** 2)))
    # the shuffled source is explained as noise of its own task: it neither helps nor hurts
    assert mt.get_state()["noise"][1] > 0.5 and mt.get_state()["noise"][0] < 0.05
    assert rmse_mt < 1.1 * rmse_plain, (rmse_mt, rmse_plain)
    m, _ = mt.loo()
    assert len(m) == 25


def test_a_shared_scale_carries_the_sources_levels_to_a_target_with_few_points():
    """Three target points, all where f is low: standardised on their own (per-task) the target's mean is
    their low mean, and far from them the prediction falls back to it; with scale="shared" (the same
    objective in the same units) the source's levels carry over, so the prediction at the source's best is
    near the truth there."""
    rng = np.random.default_rng(5)
    f = lambda X: 10.0 * np.sin(3 * X[:, 0]) + 2.0 * X[:, 1]  # noqa: E731
    Xs = rng.random((80, 2))
    Xt = np.array([[0.0, 0.1], [0.02, 0.8], [0.05, 0.4]])  # f near 0..2: the low end
    X = np.vstack([Xs, Xt])
    y = np.concatenate([f(Xs) + 1.0, f(Xt)])  # the source: the same objective, 1 unit higher
    task = np.concatenate([np.ones(len(Xs), int), np.zeros(len(Xt), int)])
    best = Xs[[int(np.argmax(f(Xs)))]]
    errors = {}
    for scale in ("per-task", "shared"):
        mt = MultiTaskGP(seed=0, scale=scale).fit(X, y, task)
        errors[scale] = abs(float(mt.predict(best)[0][0]) - float(f(best)[0]))
    assert errors["shared"] < 2.5 and errors["shared"] < 0.5 * errors["per-task"], errors
    with pytest.raises(Exception, match="scale must be one of"):
        MultiTaskGP(scale="joint")


def test_random_starts_run_only_when_every_earlier_start_failed(monkeypatch):
    """A first fit runs the default start alone; a refit on the same data runs the warm start alone; when
    the default start fails (a non-finite loss), the random starts run and one of them is the fit."""
    import orchestrator.models.gp.multitask as mod

    Xs, ys, Xt, yt, _ = _pair(40, 5, 1)
    X, y = np.vstack([Xt, Xs]), np.concatenate([yt, ys])
    task = np.concatenate([np.zeros(len(Xt), int), np.ones(len(Xs), int)])
    first = MultiTaskGP(seed=0).fit(X, y, task)
    assert first.fit_info["starts"] == 1 and not first.fit_info["fallback"]
    again = MultiTaskGP(seed=0)
    again.set_state(first.get_state())
    again.fit(X, y, task)
    assert again.fit_info["starts"] == 1 and not again.fit_info["restarted"]
    # a refit whose optimum is far from the warm start (the target's values negated: its correlation with
    # the source, kept positive, is gone) still runs the warm start alone, until the observations grow by regrow
    moved = MultiTaskGP(seed=0)
    moved.set_state(first.get_state())
    yp = np.concatenate([-yt, ys])
    moved.fit(X, yp, task)
    assert moved.fit_info["starts"] == 1
    assert first.task_correlations()[0, 1] - moved.task_correlations()[0, 1] > 0.3  # 0.99 -> 0.12
    grown = MultiTaskGP(seed=0, regrow=0.1)
    grown.set_state(first.get_state())
    extra = Xt[:5] + 0.01
    grown.fit(np.vstack([X, extra]), np.concatenate([y, yt[:5]]), np.concatenate([task, np.zeros(5, int)]))
    assert grown.fit_info["starts"] == 2 and grown.fit_info["restarted"]

    real, calls = mod.minimize, []

    def failing_first(fun, x0, **kw):  # the default start's optimiser ends at a non-finite loss
        calls.append(1)
        res = real(fun, x0, **kw)
        if len(calls) == 1:
            res.fun = float("inf")
        return res

    monkeypatch.setattr(mod, "minimize", failing_first)
    rescued = MultiTaskGP(seed=0, restarts=2).fit(X, y, task)
    assert rescued.fit_info["starts"] == 2 and len(calls) == 2 and not rescued.fit_info["fallback"]
    assert math.isfinite(rescued.get_state()["loss"])


def test_a_one_hot_inputs_columns_share_one_lengthscale_by_default():
    """A numeric input, a one-hot input of 4 levels and a descriptor-encoded input of 3 columns: by default
    the one-hot columns share one lengthscale (5 free: 1 + 1 + 3); "all" ties the descriptors too (3 free),
    "none" ties nothing (8 free). The tied fit learns which level is which: its predictions at the
    levels follow the target's per-level offsets."""
    from orchestrator.space import ColumnGroup

    groups = [ColumnGroup("x", slice(0, 1), "numeric"), ColumnGroup("cat", slice(1, 5), "categorical"),
              ColumnGroup("mol", slice(5, 8), "descriptors")]
    rng = np.random.default_rng(4)
    levels = rng.integers(0, 4, 90)
    desc = rng.random((4, 3))
    X = np.column_stack([rng.random(90), np.eye(4)[levels], desc[levels]])
    offset = np.array([0.0, 2.0, -1.0, 1.0])
    y = np.sin(4 * X[:, 0]) + offset[levels]
    task = (np.arange(90) >= 20).astype(int)  # 20 target rows, 70 source rows of the same function
    free = {}
    for tie in ("one-hot", "all", "none"):
        mt = MultiTaskGP(seed=0, groups=groups, **({} if tie == "one-hot" else {"tie_categorical": tie}))
        mt.fit(X, y, task)
        free[tie] = len(mt.get_state()["lengthscales"])
        if tie == "one-hot":
            at = np.column_stack([np.full(4, 0.5), np.eye(4), desc])
            pred = mt.predict(at)[0]
            assert np.corrcoef(pred, offset)[0, 1] > 0.95, pred
    assert free == {"one-hot": 5, "all": 3, "none": 8}, free
    with pytest.raises(ModelError, match="tie_categorical must be one of"):
        MultiTaskGP(tie_categorical=True)


def test_auto_puts_the_long_prior_on_descriptor_columns_only():
    """Under "auto" the multi-task GP's descriptor lengthscales get Gamma(2, 0.2) (mode 5) and start at 3, the
    numeric one Gamma(3, 6), the tied one-hot one none; the fitted descriptor lengthscales are then long on
    a smooth function of the descriptors, where Gamma(3, 6) (the "gamma" preset) keeps them short."""
    from orchestrator.models.gp.priors import LengthscalePrior, auto_prior, softplus
    from orchestrator.space import ColumnGroup

    groups = [ColumnGroup("x", slice(0, 1), "numeric"), ColumnGroup("cat", slice(1, 4), "categorical"),
              ColumnGroup("mol", slice(4, 10), "descriptors")]
    rng = np.random.default_rng(5)
    n_mol = 12
    desc = rng.random((n_mol, 6))
    mols, levels = rng.integers(0, n_mol, 120), rng.integers(0, 3, 120)
    X = np.column_stack([rng.random(120), np.eye(3)[levels], desc[mols]])
    y = np.sin(3 * X[:, 0]) + desc[mols] @ np.linspace(0.5, 1.0, 6) + 0.2 * levels
    task = (np.arange(120) >= 15).astype(int)
    mt = MultiTaskGP(seed=0, groups=groups)
    starts = mt._starts(8, 2, auto_prior(["numeric", "categorical"] + ["descriptors"] * 6, descriptors="long"))
    assert np.allclose(softplus(starts[0][:8]), [1.0, 1.0] + [3.0] * 6)
    mt.fit(X, y, task)
    gamma = MultiTaskGP(seed=0, groups=groups, lengthscale_prior="gamma").fit(X, y, task)
    ls, ls_gamma = (np.array(m.get_state()["lengthscales"]) for m in (mt, gamma))
    assert np.median(ls[2:]) > 2.0 > np.median(ls_gamma[2:]), (ls, ls_gamma)
    long = LengthscalePrior("gamma", 2.0, 0.2)
    loss, grad = long.neg_log(np.array([5.0]))
    assert abs(grad[0]) < 1e-12  # its mode is 5


def test_a_target_kernel_of_its_own_learns_what_the_source_lacks():
    """target_kernel="own": kappa_0 multiplies a kernel of the target's own (own lengthscales, the plain GP's
    prior), so a target that varies along an input its source ignores is learned from its own points. The
    source depends on x0 only; the target adds 0.7 sin(9 x1). With the shared kernel the multi-task GP is
    worse than the GP alone (RMSE ~0.5 against ~0.3); with its own kernel it is far better than both (~0.08
    over 10 draws)."""
    rmse = {"shared": [], "own": [], "plain": []}
    for seed in range(3):
        rng = np.random.default_rng(seed)
        def source(X):
            return np.sin(5 * X[:, 0])
        def target(X):
            return np.sin(5 * X[:, 0]) + 0.7 * np.sin(9 * X[:, 1])
        Xs, Xt, Xg = rng.random((100, 2)), rng.random((15, 2)), rng.random((400, 2))
        X, y = np.vstack([Xt, Xs]), np.r_[target(Xt), source(Xs)]
        task = np.r_[np.zeros(15, int), np.ones(100, int)]
        def err(m):
            return float(np.sqrt(np.mean((m.predict(Xg)[0] - target(Xg)) ** 2)))
        rmse["plain"].append(err(GPSurrogate(seed=0).fit(Xt, target(Xt))))
        for kind in ("shared", "own"):
            mt = MultiTaskGP(seed=0, target_kernel=kind).fit(X, y, task)
            rmse[kind].append(err(mt))
            state = mt.get_state()
            assert state["target_kernel"] == kind and (state["own_lengthscales"] is None) == (kind == "shared")
            # the stored state rebuilds the same posterior, fantasies included
            again = MultiTaskGP(seed=0, target_kernel=kind).restore(X, y, task, state)
            np.testing.assert_allclose(again.predict(Xg)[0], mt.predict(Xg)[0], atol=1e-8)
            np.testing.assert_allclose(again.condition(Xg[:2]).predict(Xg)[1], mt.condition(Xg[:2]).predict(Xg)[1],
                                       atol=1e-8)
            # far from every point the variance is the target's prior variance w_0^2 + kappa_0
            B = mt.task_covariance()
            far = mt.predict(np.array([[40.0, 40.0]]))[1][0] / mt._fitted["stds"][0] ** 2
            assert far == pytest.approx(B[0, 0], rel=1e-6)
    own, shared, plain = (np.mean(rmse[k]) for k in ("own", "shared", "plain"))
    assert own < 0.5 * plain and own < 0.3 * shared, rmse
    # a state of one kind neither warm-starts nor rebuilds the other
    other = MultiTaskGP(seed=0, target_kernel="shared")
    other.set_state(state)
    assert other.get_state() == {}
    with pytest.raises(ValueError):
        MultiTaskGP(seed=0).restore(X, y, task, state)
    with pytest.raises(ModelError, match="target_kernel must be one of"):
        MultiTaskGP(target_kernel="mine")
