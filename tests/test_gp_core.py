"""The GP core: tied lengthscales (the categorical kernel), the lengthscale priors, and the numpy loss with
tied lengthscales against GPflow's training loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.models.gp import Fitter, GPSurrogate, Tie, kernel_matrix, lengthscale_prior
from orchestrator.models.gp.loss import ExactLoss
from orchestrator.models.gp.priors import auto_prior

from conftest import GROUPS, Group, onehot


TIE = Tie.from_groups([1, 3, 2], [False, True, True])


def test_tie_maps_columns_to_one_lengthscale_per_categorical_input():
    assert TIE.index == (0, 1, 1, 1, 2, 2) and TIE.n_free == 3
    np.testing.assert_array_equal(TIE.expand(np.array([0.5, 2.0, 3.0])), [0.5, 2.0, 2.0, 2.0, 3.0, 3.0])
    np.testing.assert_array_equal(TIE.reduce(np.array([1.0, 1.0, 2.0, 3.0, 4.0, 5.0])), [1.0, 6.0, 9.0])
    untied = Tie.from_groups([1, 3], [False, False])
    assert untied.index is None and untied.n_free == 4


def test_categorical_kernel_against_values_by_hand():
    """Matérn-5/2 with tied lengthscales: a categorical input adds 0 (same level) or 2 / l^2 (any two
    different levels) to r^2, so the kernel is exchangeable over the levels."""
    ls_free = np.array([0.5, 2.0, 4.0])
    var = 1.7
    a = np.array([[0.2] + onehot(0, 3) + onehot(1, 2)])
    b = np.array([[0.6] + onehot(2, 3) + onehot(1, 2),   # other base, same solvent
                  [0.6] + onehot(1, 3) + onehot(1, 2),   # another other base: the same value (exchangeable)
                  [0.2] + onehot(0, 3) + onehot(0, 2),   # same base, other solvent
                  [0.2] + onehot(0, 3) + onehot(1, 2)])  # identical
    K = kernel_matrix("matern52", a, b, TIE.expand(ls_free), var)[0]

    def matern52(r2: float) -> float:
        s = math.sqrt(5.0 * r2)
        return var * (1.0 + s + s * s / 3.0) * math.exp(-s)

    by_hand = [matern52((0.4 / 0.5) ** 2 + 2.0 / 2.0**2), matern52((0.4 / 0.5) ** 2 + 2.0 / 2.0**2),
               matern52(2.0 / 4.0**2), var]
    # written out: r2 = 0.64 + 0.5 = 1.14, s = sqrt(5.7) -> 0.4857...; r2 = 0.125, s = sqrt(0.625) -> 0.9067...
    assert by_hand[0] / var == pytest.approx(0.48572, abs=1e-4)
    assert by_hand[2] / var == pytest.approx(0.90668, abs=1e-4)
    np.testing.assert_allclose(K, by_hand, rtol=1e-12)


@pytest.mark.parametrize("d", [1, 4, 21])
def test_dimension_scaled_prior_is_hvarfners_lognormal(d):
    import tensorflow_probability as tfp

    prior = lengthscale_prior("dim-scaled", d)
    assert prior.family == "lognormal"
    assert prior.a == pytest.approx(math.sqrt(2.0) + 0.5 * math.log(d)) and prior.b == pytest.approx(math.sqrt(3.0))
    ls = np.array([0.05, 0.3, 1.0, 4.0, 25.0])
    loss, grad = prior.neg_log(ls)
    ref = -tfp.distributions.LogNormal(np.float64(prior.a), np.float64(prior.b)).log_prob(ls).numpy()
    np.testing.assert_allclose(loss, ref, rtol=1e-12)
    h = 1e-6 * ls
    fd = (prior.neg_log(ls + h)[0] - prior.neg_log(ls - h)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    # the median grows as sqrt(d): that is the point of the preset
    assert math.exp(prior.a) == pytest.approx(math.exp(math.sqrt(2.0)) * math.sqrt(d))


def test_gamma_preset_is_the_old_prior():
    prior = lengthscale_prior("gamma", 7)
    assert (prior.family, prior.a, prior.b) == ("gamma", 3.0, 6.0)
    with pytest.raises(ValueError, match="unknown lengthscale prior"):
        lengthscale_prior("wide", 3)


def _categorical_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    t = rng.random(n)
    base, solvent = rng.integers(0, 3, n), rng.integers(0, 2, n)
    X = np.array([[t[i]] + onehot(base[i], 3) + onehot(solvent[i], 2) for i in range(n)])
    y = np.sin(3 * t) + np.array([0.0, 0.8, -0.5])[base] + np.array([0.3, -0.3])[solvent]
    return X, y


@pytest.mark.parametrize("preset,tie", [("gamma", TIE), ("dim-scaled", TIE), ("long", TIE), ("auto", Tie.none(6)),
                                         ("auto", TIE)])
def test_tied_loss_and_gradient_equal_gpflow_training_loss(preset, tie):
    X, y = _categorical_data(30, 0)
    z = (y - y.mean()) / y.std()
    kinds = ["numeric", "categorical", "categorical"] if tie is TIE else ["numeric"] + ["categorical"] * 5
    prior = auto_prior(kinds) if preset == "auto" else lengthscale_prior(preset, 3)
    q = tie.n_free
    fitter = Fitter.get(6, "matern52", prior, 1e-6, tie)
    fitter.set_data(X, z)
    rng = np.random.default_rng(1)
    for _ in range(3):
        u = rng.normal(size=q + 2)  # free lengthscales, variance, noise
        loss_tf, grad_tf = fitter.gpflow_loss_and_grad(u)
        loss_np, grad_np = fitter.loss()(u)
        assert loss_np == pytest.approx(loss_tf, rel=1e-10)
        np.testing.assert_allclose(grad_np, grad_tf, rtol=1e-8, atol=1e-10)
    # and the gradient is the loss's (finite differences through the tie)
    loss_fn = ExactLoss("matern52", X, z, prior, 1e-6, tie)
    u = rng.normal(size=q + 2)
    g = loss_fn(u)[1]
    for k in range(q + 2):
        e = np.zeros(q + 2)
        e[k] = 1e-6
        assert g[k] == pytest.approx((loss_fn(u + e)[0] - loss_fn(u - e)[0]) / 2e-6, rel=1e-5, abs=1e-7)


def test_auto_prior_leaves_one_hot_lengthscales_free_and_keeps_gamma_on_numbers():
    prior = auto_prior(["numeric", "categorical", "descriptors"])
    loss, grad = prior.neg_log(np.array([0.5, 7.0, 0.5]))
    gamma_loss, gamma_grad = lengthscale_prior("gamma", 1).neg_log(np.array([0.5]))
    np.testing.assert_allclose(loss, [gamma_loss[0], 0.0, gamma_loss[0]])
    np.testing.assert_allclose(grad, [gamma_grad[0], 0.0, gamma_grad[0]])
    assert auto_prior(["numeric", "numeric"]) == lengthscale_prior("gamma", 2)
    X, y = _categorical_data(40, 2)
    gp = GPSurrogate(seed=0, groups=GROUPS).fit(X, y)  # the defaults: auto, untied
    state = gp.get_state()
    assert len(state["lengthscales"]) == 6 and state["lengthscale_prior"] == "auto"
    assert [p.family for p in gp.prior.parts] == ["gamma"] + ["none"] * 5
    # the one-hot lengthscales are not pulled toward Gamma(3, 6)'s 0.33: levels stay correlated
    assert min(state["lengthscales"][1:]) > 1.0


def test_gp_with_categorical_groups_ties_lengthscales_and_learns_across_levels():
    X, y = _categorical_data(40, 2)
    gp = GPSurrogate(seed=0, groups=GROUPS, lengthscale_prior="dim-scaled", tie_categorical=True)
    gp.fit(X, y)
    state = gp.get_state()
    assert len(state["lengthscales"]) == 3 and state["lengthscale_prior"] == "dim-scaled"
    assert gp.prior == lengthscale_prior("dim-scaled", 3)
    Xs, ys = _categorical_data(200, 3)
    mean, var = gp.predict(Xs)
    assert np.corrcoef(mean, ys)[0, 1] > 0.95
    assert np.all(var > 0)
    # a warm start from its own state reproduces the fit
    again = GPSurrogate(seed=0, groups=GROUPS, lengthscale_prior="dim-scaled", tie_categorical=True)
    again.set_state(state)
    again.fit(X, y)
    np.testing.assert_allclose(again.get_state()["lengthscales"], state["lengthscales"], rtol=1e-4)
    # a state fitted under another prior is not used as a warm start
    other = GPSurrogate(seed=0, groups=GROUPS, lengthscale_prior="gamma", tie_categorical=True)
    other.set_state(state)
    assert other.get_state() == {}


def test_numeric_groups_keep_the_gamma_prior_and_untied_lengthscales():
    groups = [Group(f"x{i}", slice(i, i + 1), "numeric") for i in range(3)]
    gp = GPSurrogate(seed=0, groups=groups)
    assert gp.lengthscale_prior == "gamma"
    rng = np.random.default_rng(0)
    X = rng.random((20, 3))
    gp.fit(X, X.sum(axis=1))
    assert len(gp.get_state()["lengthscales"]) == 3


def test_mixed_space_acquisition_enumerates_the_levels_and_refines_the_numbers():
    """A float x and a categorical input with 4 levels: f = level bonus - 8 (x - where[level])^2. The best
    point is level 2 at x = 0.7; random raw candidates that never hold level 2 near x = 0.7 must still lead
    there: levels are enumerated around the refined candidates, then x is refined again."""
    from acquisition.batch import Geometry, select_continuous
    from acquisition.functions import UpperConfidenceBound

    bonus, where = np.array([0.0, 0.3, 1.0, 0.5]), np.array([0.2, 0.5, 0.7, 0.9])
    groups = [Group("x", slice(0, 1), "numeric"), Group("c", slice(1, 5), "categorical")]

    def f(x, c):
        return bonus[c] - 8.0 * (x - where[c]) ** 2

    rng = np.random.default_rng(0)
    xs, cs = rng.random(60), rng.integers(0, 4, 60)
    X = np.array([[x] + onehot(c, 4) for x, c in zip(xs, cs)])
    gp = GPSurrogate(seed=0, groups=groups).fit(X, f(xs, cs))
    raw = np.array([[x] + onehot(c, 4) for x, c in zip(rng.random(64), rng.choice([0, 1, 3], 64))])
    geo = Geometry(mask=np.array([True, False, False, False, False]), A_eq=np.zeros((0, 5)), b_eq=np.zeros(0),
                   onehot=((1, 5),))
    x = select_continuous(gp, UpperConfidenceBound(beta=0.01), raw, 1, best=float(f(xs, cs).max()),
                          geometry=geo)[0]
    assert int(np.argmax(x[1:])) == 2
    assert x[0] == pytest.approx(0.7, abs=0.05)


def test_restore_rebuilds_a_fitted_gp_from_its_state_without_fitting():
    X, y = _categorical_data(30, 4)
    fitted = GPSurrogate(seed=0, groups=GROUPS).fit(X, y)
    rebuilt = GPSurrogate(seed=5, groups=GROUPS).restore(X, y, fitted.get_state())
    Xs, _ = _categorical_data(50, 5)
    for a, b in zip(fitted.predict(Xs), rebuilt.predict(Xs)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="lengthscales"):
        GPSurrogate(seed=0, groups=GROUPS, tie_categorical=True).restore(X, y, fitted.get_state())


def test_fantasies_on_a_nearly_flat_kernel_do_not_break_the_cholesky_update():
    """Very long lengthscales make the fantasies' covariance given the data a difference of large numbers
    (a batch-2 run on direct arylation stopped on this): the update must still factor it."""
    from orchestrator.models.gp.posterior import Posterior

    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    z = rng.normal(size=40)
    post = Posterior("matern52", X, z, np.full(3, 1e4), 500.0, 1e-6)
    Xf = np.vstack([X[:1] + 1e-9, rng.random((1, 3))])
    cond = post.condition(Xf)
    assert np.all(np.isfinite(cond.L)) and cond.L.shape == (42, 42)
    m, v = cond.predict(rng.random((5, 3)))
    assert np.all(np.isfinite(m)) and np.all(v > 0)


def test_cholesky_jitter_grows_until_a_rounded_indefinite_matrix_factors():
    """A covariance whose diagonal is small and which is indefinite only by rounding: the jitter must grow
    (1e-10, 1e-8, ... of the scale); it used to shrink (scale squared), and the factor failed."""
    from orchestrator.models.gp.posterior import cholesky

    K = np.array([[1e-6, 1e-6 + 1e-13], [1e-6 + 1e-13, 1e-6]])
    assert np.linalg.eigvalsh(K)[0] < 0
    for L in (cholesky(K), cholesky(K, scale=1.0)):
        assert np.all(np.isfinite(L))
        np.testing.assert_allclose(L @ L.T, K, atol=1e-9)


def test_lengthscales_without_a_gamma_prior_stop_at_the_floor_and_numeric_fits_have_no_bounds():
    from orchestrator.models.gp.priors import MIN_LENGTHSCALE, lengthscale_bounds

    assert lengthscale_bounds(lengthscale_prior("gamma", 3), 3, 2) is None
    b = lengthscale_bounds(auto_prior(["numeric", "categorical"]), 2, 0)
    assert b[0] == (None, None) and b[1][0] is not None
    # a level seen once with a wildly different value pulls its lengthscale toward 0 without a prior
    X, y = _categorical_data(12, 7)
    y = y.copy()
    y[0] += 50.0
    gp = GPSurrogate(seed=0, groups=GROUPS).fit(X, y)
    assert min(gp.get_state()["lengthscales"]) >= MIN_LENGTHSCALE * (1 - 1e-9)
    cond = gp.condition(X[:1])  # the fantasy update stays well defined
    assert np.all(np.isfinite(cond.predict(X)[1]))
