"""The sum + product kernel of categorical inputs (``categorical_kernel: additive``): its values by hand, its
numpy loss and gradient against GPflow's training loss of the same model built from GPflow kernels with
active_dims, the posterior's prediction, fantasies, pool updates and leave-one-out with it, and a pool
campaign that runs with it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from orchestrator.models.gp import Fitter, GPSurrogate, Posterior, PoolPosterior, Tie, kernel_matrix
from orchestrator.models.gp import lengthscale_prior, loo_closed_form
from orchestrator.models.gp.kernels import Kernel, cross_and_dk, kernel_and_dk
from orchestrator.models.gp.loss import ExactLoss
from orchestrator.models.gp.priors import auto_prior
from orchestrator.models.base import Standardizer

from conftest import CAMPAIGNS, DATASETS, GROUPS, Group, onehot


RANGES = ((0, 1), (1, 4), (4, 6))


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t, base, solvent = rng.random(n), rng.integers(0, 3, n), rng.integers(0, 2, n)
    X = np.array([[t[i]] + onehot(base[i], 3) + onehot(solvent[i], 2) for i in range(n)])
    # main effects, an interaction of t with base 1, and noise
    y = np.sin(3 * t) + np.array([0.0, 1.2, -0.5])[base] + np.array([0.4, -0.4])[solvent] + 1.5 * t * (base == 1)
    return X, y + 0.05 * rng.normal(size=n)


def matern52(r2: float, var: float) -> float:
    s = math.sqrt(5.0 * r2)
    return var * (1.0 + s + s * s / 3.0) * math.exp(-s)


def test_sum_product_kernel_against_values_by_hand():
    """k = var ((1 - w) M(r^2 over all columns) + w/3 (M(r_t^2) + M(r_base^2) + M(r_solvent^2))), M the
    unit Matérn-5/2: a point that differs in one input only keeps the other inputs' terms whole."""
    ls = np.array([0.5, 1.0, 2.0, 4.0, 1.0, 1.0])
    var, w = 1.7, 0.3
    a = np.array([[0.2] + onehot(0, 3) + onehot(1, 2)])
    b = np.array([[0.6] + onehot(0, 3) + onehot(1, 2),   # other t only
                  [0.2] + onehot(2, 3) + onehot(1, 2),   # other base only: levels 0 and 2 (ls 1 and 4)
                  [0.6] + onehot(1, 3) + onehot(0, 2),   # all three differ
                  [0.2] + onehot(0, 3) + onehot(1, 2)])  # identical
    K = kernel_matrix(Kernel("matern52", RANGES, w), a, b, ls, var)[0]
    rt, rb1, rb2, rs = (0.4 / 0.5) ** 2, 1.0 / 1.0**2 + 1.0 / 4.0**2, 1.0 / 1.0**2 + 1.0 / 2.0**2, 2.0
    by_hand = [
        var * ((1 - w) * matern52(rt, 1) + w / 3 * (matern52(rt, 1) + 2.0)),
        var * ((1 - w) * matern52(rb1, 1) + w / 3 * (matern52(rb1, 1) + 2.0)),
        var * ((1 - w) * matern52(rt + rb2 + rs, 1) + w / 3 * (matern52(rt, 1) + matern52(rb2, 1) + matern52(rs, 1))),
        var,
    ]
    # written out for the first: r^2 = 0.64, s = sqrt(3.2), M = 0.6445, k = 1.7 (0.7 * 0.6445 + 0.1 * 2.6445) = 1.2165
    assert matern52(rt, 1) == pytest.approx(0.64446, abs=1e-4)
    assert by_hand[0] == pytest.approx(1.21646, abs=1e-4)
    np.testing.assert_allclose(K, by_hand, rtol=1e-12)
    # w = 0 is the product kernel, bit for bit
    np.testing.assert_array_equal(kernel_matrix(Kernel("matern52", RANGES, 0.0), a, b, ls, var),
                                  kernel_matrix("matern52", a, b, ls, var))
    # the derivative helpers of the product kernel refuse it (the sparse and multitask GPs use them)
    with pytest.raises(NotImplementedError, match="categorical_kernel: product"):
        kernel_and_dk(Kernel("matern52", RANGES, w), a, ls, var)
    with pytest.raises(NotImplementedError, match="categorical_kernel: product"):
        cross_and_dk(Kernel("matern52", RANGES, w), a, b, ls, var)


TIED = Tie.from_groups([1, 3, 2], [False, True, True])


@pytest.mark.parametrize("kind,preset,tie,fixed", [("matern52", "gamma", Tie.none(6), None),
                                                   ("matern52", "auto", TIED, None),
                                                   ("matern32", "dim-scaled", TIED, None),
                                                   ("rbf", "auto", Tie.none(6), None),
                                                   ("matern52", "auto", Tie.none(6), 0.7)])
def test_loss_and_gradient_equal_gpflow_training_loss_of_the_sum_of_products(kind, preset, tie, fixed):
    """GPflow's model: Sum([Matern over all columns, Matern on active_dims 0, 1-3, 4-5]), the parts'
    variances var (1 - w) and var w / 3 and their lengthscales copies of the shared ones; the priors on
    the lengthscales, on the total variance and the Beta(2, 2) on w added in numpy (the noise prior is
    GPflow's). ``fixed``: w is a setting, not a parameter."""
    X, y = data(30, 0)
    z = (y - y.mean()) / y.std()
    kinds = ["numeric", "categorical", "categorical"] if tie is TIED else ["numeric"] + ["categorical"] * 5
    prior = auto_prior(kinds) if preset == "auto" else lengthscale_prior(preset, tie.n_free)
    q = tie.n_free
    form = Kernel(kind, RANGES) if fixed is None else Kernel(kind, RANGES, fixed, fixed=True)
    size = q + 3 if fixed is None else q + 2
    fitter = Fitter.get(6, form, prior, 1e-6, tie)
    import gpflow
    assert isinstance(fitter.kernel, gpflow.kernels.Sum) and len(fitter.kernel.kernels) == 4
    assert [list(k.active_dims) if not isinstance(k.active_dims, slice) else "all"
            for k in fitter.kernel.kernels] == ["all", [0], [1, 2, 3], [4, 5]]
    fitter.set_data(X, z)
    rng = np.random.default_rng(1)
    for _ in range(3):
        u = rng.normal(size=size)  # free lengthscales, variance, noise (and the logit of the additive share)
        loss_tf, grad_tf = fitter.gpflow_loss_and_grad(u)
        loss_np, grad_np = fitter.loss()(u)
        assert len(grad_np) == size
        assert loss_np == pytest.approx(loss_tf, rel=1e-10)
        np.testing.assert_allclose(grad_np, grad_tf, rtol=1e-8, atol=1e-10)
    # and the gradient is the loss's (finite differences)
    loss_fn = ExactLoss(form, X, z, prior, 1e-6, tie)
    u = rng.normal(size=size)
    g = loss_fn(u)[1]
    for k in range(size):
        e = np.zeros(size)
        e[k] = 1e-6
        assert g[k] == pytest.approx((loss_fn(u + e)[0] - loss_fn(u - e)[0]) / 2e-6, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("kind", ["matern52", "matern32", "rbf"])
def test_the_loss_over_every_pair_at_once_equals_the_loss_from_each_terms_matrix(kind, monkeypatch):
    """``AdditivePairs`` (every pair's squared differences kept, the G + 1 terms in one pass) is the fast path of
    small training sets; above its memory limit the loss builds each term's matrix (``additive_and_dk``).
    Both are the same function: value and gradient agree to rounding, with a share fitted and fixed."""
    from orchestrator.models.gp.kernels import AdditivePairs

    X, y = data(40, 3)
    z = (y - y.mean()) / y.std()
    prior = auto_prior(["numeric"] + ["categorical"] * 5)
    rng = np.random.default_rng(2)
    for form in (Kernel(kind, RANGES), Kernel(kind, RANGES, 0.3, fixed=True)):
        fast = ExactLoss(form, X, z, prior, 1e-6)
        monkeypatch.setattr(AdditivePairs, "LIMIT", 0)
        slow = ExactLoss(form, X, z, prior, 1e-6)
        monkeypatch.undo()
        assert fast.pairs is not None and slow.pairs is None
        for _ in range(3):
            u = rng.normal(size=fast.size)
            (lf, gf), (ls_, gs) = fast(u), slow(u)
            assert lf == pytest.approx(ls_, rel=1e-12)
            np.testing.assert_allclose(gf, gs, rtol=1e-9, atol=1e-12)
    assert AdditivePairs.fits(50, 21) and not AdditivePairs.fits(5_000, 21)


def _fitted(n: int = 25, seed: int = 0) -> tuple[GPSurrogate, np.ndarray, np.ndarray]:
    """The GP with the sum + product kernel, its share fitted (the default fixes it at 0.5)."""
    X, y = data(n, seed)
    return GPSurrogate(seed=0, groups=GROUPS, categorical_kernel="additive", additive_weight=None).fit(X, y), X, y


def test_prediction_equals_gpflow_predict_f_of_the_fitted_sum_kernel():
    gp, X, y = _fitted()
    state = gp.get_state()
    assert 0.0 < state["additive_weight"] < 1.0
    post = gp._post
    assert post.kind.additive and post.kind.weight == state["additive_weight"]
    fitter = Fitter.get(6, Kernel("matern52", RANGES), gp.prior, gp.noise_floor, Tie.none(6))
    fitter.set_params(np.array(state["lengthscales"]), state["variance"], state["noise"], state["additive_weight"])
    fitter.X.assign(X)
    fitter.Y.assign(post.z[:, None])
    Xs, _ = data(40, 5)
    m_tf, v_tf = fitter.model.predict_f(Xs)
    m, v = post.predict(Xs)
    np.testing.assert_allclose(m, m_tf.numpy()[:, 0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(v, v_tf.numpy()[:, 0], rtol=1e-7, atol=1e-10)


def test_fantasies_pool_updates_and_leave_one_out_use_the_sum_kernel():
    gp, X, y = _fitted()
    post = gp._post
    Xs, _ = data(60, 7)
    # a kriging-believer batch: the pool's rank-one updates equal conditioning and predicting again
    std = Standardizer(np.array([1.0, 2.0, 4.0]))
    pool = PoolPosterior(post, Xs, std, keep_solve=False)  # recomputes the covariance with the pick
    cached = PoolPosterior(post, Xs, std)  # keeps the pool's solve
    for j in (3, 17):
        pool.condition(j)
        cached.condition(j)
    again = post.condition(Xs[[3, 17]])
    m_ref, v_ref = again.predict(Xs)
    for p in (pool, cached):
        m, v = p.predict()
        np.testing.assert_allclose((m - std.mean) / std.std, m_ref, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(v / std.std**2, v_ref, rtol=1e-6, atol=1e-9)
    # the fantasies' posterior is the posterior on data + fantasies (rebuilt from scratch)
    fresh = Posterior(post.kind, again.X, again.z, post.ls, post.var, post.noise)
    np.testing.assert_allclose(again.predict(Xs)[1], fresh.predict(Xs)[1], rtol=1e-7, atol=1e-10)
    # closed-form leave-one-out equals refitting the posterior without each point
    m_loo, v_loo = loo_closed_form(post.L, post.z)
    for i in (0, 11):
        keep = np.arange(len(post.z)) != i
        sub = Posterior(post.kind, post.X[keep], post.z[keep], post.ls, post.var, post.noise)
        m_i, v_i = sub.predict(post.X[i : i + 1])
        assert m_loo[i] == pytest.approx(m_i[0], rel=1e-7, abs=1e-9)
        assert v_loo[i] == pytest.approx(v_i[0] + post.noise, rel=1e-7)


def test_the_option_learns_the_main_effects_and_restores_from_its_state():
    gp, X, y = _fitted(30, 2)
    Xs, ys = data(200, 3)
    mean, var = gp.predict(Xs)
    assert np.corrcoef(mean, ys)[0, 1] > 0.95 and np.all(var > 0)
    again = GPSurrogate(seed=0, groups=GROUPS, categorical_kernel="additive", additive_weight=None).restore(
        X, y, gp.get_state())
    np.testing.assert_allclose(again.predict(Xs)[0], mean, rtol=1e-9, atol=1e-12)
    # the product kernel (the default) predicts differently from the same data
    plain = GPSurrogate(seed=0, groups=GROUPS).fit(X, y)
    assert "additive_weight" not in plain.get_state()
    assert not np.allclose(plain.predict(Xs)[0], mean)


def test_the_beta_prior_keeps_the_share_inside_and_a_fixed_share_is_kept():
    """Two points differing in every input: without the prior the marginal likelihood drives w to 0 (seen on
    direct arylation); Beta(2, 2) keeps it near 1/2. A fixed share is the kernel's."""
    X, y = data(2, 4)
    gp = GPSurrogate(seed=0, groups=GROUPS, categorical_kernel="additive", additive_weight=None).fit(X, y)
    assert 0.3 < gp.get_state()["additive_weight"] < 0.7 and gp.get_state()["additive_weight"] != 0.5
    X, y = data(12, 4)
    fixed = GPSurrogate(seed=0, groups=GROUPS, categorical_kernel="additive", additive_weight=0.8).fit(X, y)
    assert fixed.get_state()["additive_weight"] == 0.8 and fixed._post.kind.weight == 0.8
    assert 0.0 < fixed.predict(X)[1].min()


def test_auto_is_the_sum_kernel_for_pools_with_a_categorical_input_only():
    from orchestrator.models.base import ModelContext
    from orchestrator.models.gp import GPConfig

    X, _ = data(20, 0)
    numeric = [Group(f"x{i}", slice(i, i + 1), "numeric") for i in range(3)]
    descriptors = [Group("t", slice(0, 1), "numeric"), Group("base", slice(1, 6), "descriptors")]

    def chosen(pool: bool, groups: list) -> str:
        context = ModelContext(seed=0, n_inputs=len(groups), pool=pool, candidates=X if pool else None,
                               groups=groups)
        return GPSurrogate.from_config(GPConfig(), context).categorical_kernel

    assert GPConfig().categorical_kernel == "auto"
    assert chosen(True, GROUPS) == "additive"
    assert chosen(False, GROUPS) == "product"  # continuous spaces: not measured
    assert chosen(True, numeric) == "product"
    assert chosen(True, descriptors) == "additive"  # measured on direct arylation with RDKit descriptors
    assert chosen(False, descriptors) == "product"
    assert GPSurrogate.from_config(GPConfig(categorical_kernel="product"),
                                   ModelContext(seed=0, n_inputs=3, pool=True, candidates=X,
                                                groups=GROUPS)).categorical_kernel == "product"


def test_numeric_inputs_ignore_the_option():
    groups = [Group(f"x{i}", slice(i, i + 1), "numeric") for i in range(3)]
    rng = np.random.default_rng(0)
    X = rng.random((20, 3))
    a = GPSurrogate(seed=0, groups=groups, categorical_kernel="additive").fit(X, X.sum(axis=1))
    b = GPSurrogate(seed=0, groups=groups).fit(X, X.sum(axis=1))
    assert a.categorical_kernel == "product" and a.get_state() == b.get_state()
    with pytest.raises(ValueError, match="categorical_kernel"):
        GPSurrogate(groups=GROUPS, categorical_kernel="sum")


SPEC = CAMPAIGNS / "benchmarks" / "direct_arylation" / "105.yaml"
DATA = DATASETS / "direct_arylation" / "data.csv"


@pytest.mark.skipif(not DATA.exists(), reason=f"the shared dataset {DATA} is not there")
def test_a_categorical_pool_campaign_runs_batches_of_two_with_the_sum_kernel(tmp_path: Path):
    from orchestrator.config import load_campaign
    from orchestrator.engine import Engine
    from orchestrator.store import Store

    spec = yaml.safe_load(SPEC.read_text())
    spec["space"]["pool"]["path"] = str(DATA)
    spec["model"]["params"] = {"categorical_kernel": "additive"}
    spec["acquisition"]["batch_size"] = 2
    spec["budget"]["max_experiments"] = 10
    path = tmp_path / "arylation.yaml"
    path.write_text(yaml.safe_dump(spec))
    campaign = load_campaign(path)
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    with Engine(campaign, store) as engine:
        report = engine.run()
    exps = store.experiments(engine.id)
    assert report.status == "completed" and len(exps) == 10
    assert len({tuple(sorted(e.params.items())) for e in exps}) == 10
    # the model of the run is the sum + product kernel
    assert engine._model._post.kind.additive and 0.0 < engine._model.get_state()["additive_weight"] < 1.0
