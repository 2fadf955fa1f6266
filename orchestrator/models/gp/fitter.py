"""The GP of record (a GPflow ``GPR``) and the fit of its hyperparameters by L-BFGS-B.

A :class:`Fitter` is built once per process and model shape (kernel columns, kernel kind, lengthscale
prior, noise floor, tied lengthscales) with variable-shaped data Variables, so TensorFlow traces its
functions once. The GPflow model defines the GP (kernel, priors, parameter transforms) and is the
reference the numpy loss (``loss.ExactLoss``) is tested against; ``minimize`` runs scipy's L-BFGS-B on
the numpy loss (``backend = "tensorflow"`` uses GPflow's compiled loss instead: same optimum, slower).

With tied lengthscales the GPflow kernel still has one lengthscale per column (set to the tied values);
its lengthscale prior is then left off, and ``gpflow_loss_and_grad`` adds the prior on the free
lengthscales and sums the tied columns' gradients, so the two losses remain the same function. The same
holds for a prior that differs between lengthscales (``priors.PerLengthscalePrior``).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .kernels import Kernel, Tie, as_kernel
from .loss import ExactLoss, guarded
from .priors import NOISE_PRIOR, VARIANCE_PRIOR, LengthscalePrior, PerLengthscalePrior, inv_softplus
from .priors import neg_log_gamma, neg_log_weight_prior
from .priors import into_bounds, lengthscale_bounds
from .priors import softplus


def gpflow_parts(dim: int, kind: str, prior: LengthscalePrior | None, noise_floor: float) -> tuple:
    """The GPflow kernel (with its priors; ``prior`` None: no lengthscale prior), Gaussian likelihood and
    variable-shaped data Variables shared by the exact and the sparse GP, so both define the same model."""
    from ..tf_quiet import import_tensorflow

    import_tensorflow()  # without TensorFlow's C++ start-up chatter on stderr
    import gpflow
    import tensorflow as tf
    import tensorflow_probability as tfp

    f64 = gpflow.utilities.to_default_float
    kernel_cls = {"matern52": gpflow.kernels.Matern52, "matern32": gpflow.kernels.Matern32,
                  "rbf": gpflow.kernels.SquaredExponential}[kind]
    kernel = kernel_cls(variance=1.0, lengthscales=np.full(dim, 0.3))
    if prior is not None and prior.tfp() is not None:
        kernel.lengthscales.prior = prior.tfp()
    kernel.variance.prior = tfp.distributions.Gamma(*map(f64, VARIANCE_PRIOR))
    likelihood = gpflow.likelihoods.Gaussian(variance=max(1e-2, 10 * noise_floor), variance_lower_bound=noise_floor)
    likelihood.variance.prior = tfp.distributions.Gamma(*map(f64, NOISE_PRIOR))
    X = tf.Variable(np.zeros((1, dim)), shape=tf.TensorShape([None, dim]), dtype=tf.float64, trainable=False)
    Y = tf.Variable(np.zeros((1, 1)), shape=tf.TensorShape([None, 1]), dtype=tf.float64, trainable=False)
    return kernel, likelihood, X, Y


def gpflow_additive(form: Kernel, dim: int, kind_cls) -> tuple:
    """The sum + product kernel (``kernels.Kernel``) from GPflow kernels: a Matérn over every column plus one
    per group on its ``active_dims``; (the Sum kernel, its parts: the product part first). Each part has
    lengthscales and a variance of its own, set from the shared ones by ``Fitter``."""
    import gpflow

    prod = kind_cls(variance=1.0, lengthscales=np.full(dim, 0.3))
    parts = [kind_cls(variance=1.0, lengthscales=np.full(b - a, 0.3), active_dims=list(range(a, b)))
             for a, b in form.groups]
    return gpflow.kernels.Sum([prod, *parts]), [prod, *parts]


class Fitter:
    """One GPflow GPR per model shape, and L-BFGS-B on its training loss (evaluated in numpy)."""

    _cache: dict[tuple, "Fitter"] = {}
    _cache_lock = threading.Lock()
    backend: str = "numpy"

    def __init__(self, dim: int, kind: "str | Kernel", prior: LengthscalePrior | PerLengthscalePrior,
                 noise_floor: float, tie: Tie | None = None):
        self.form = as_kernel(kind).form()  # the kernel's form; its additive share is a parameter unless fixed
        self.dim, self.kind, self.prior, self.noise_floor = dim, self.form.kind, prior, noise_floor
        self.additive = self.form.additive
        self.tie = tie if tie is not None else Tie.none(dim)
        # the lengthscale prior in numpy, not in GPflow: tied lengthscales, a prior per lengthscale, or the
        # sum + product kernel (whose GPflow parts each have their own copy of the shared parameters; the
        # variance prior is then on the total variance, also in numpy)
        self.numpy_prior = self.tie.index is not None or isinstance(prior, PerLengthscalePrior) or self.additive
        # first: gpflow_parts imports TensorFlow quietly (tf_quiet); the imports below then cost nothing
        self.kernel, self.likelihood, self.X, self.Y = gpflow_parts(dim, self.kind,
                                                                    None if self.numpy_prior else prior, noise_floor)
        import gpflow
        import tensorflow as tf
        self._parts = None
        if self.additive:
            self.kernel, self._parts = gpflow_additive(self.form, dim, type(self.kernel))
        self._gpr = gpflow.models.GPR((self.X, self.Y), kernel=self.kernel, likelihood=self.likelihood)
        self._gpr_params: tuple | None = None  # the parameters last copied into the GPflow model
        self.lock = threading.Lock()
        self._params = (np.full(self.tie.n_free, 0.3), 1.0, max(1e-2, 10 * noise_floor))
        # the sum + product kernel's additive share (fitted unless the form fixes it)
        self.weight = (self.form.weight if self.form.fixed else 0.5) if self.additive else 0.0
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        self.last_cholesky: np.ndarray | None = None  # factor of K + noise I at params(), when known
        self.last_evaluations = 0
        self.ftol = 2.220446049250313e-09  # scipy's default relative-reduction tolerance

        # The compiled GPflow loss (traced on first use only): the "tensorflow" backend and the reference
        # the numpy loss is tested against. Data live in variable-shaped Variables: traced once per process.
        kernels = self._parts if self.additive else [self.kernel]
        variables = [v for k in kernels for v in (k.lengthscales.unconstrained_variable,
                                                  k.variance.unconstrained_variable)]
        variables.append(self.likelihood.variance.unconstrained_variable)
        shapes = [v.shape for v in variables]
        sizes = [max(1, int(np.prod(sh))) for sh in shapes]
        self._variables = variables

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
        def loss_and_grad(x):
            for v, part, sh in zip(variables, tf.split(x, sizes), shapes):
                v.assign(tf.reshape(part, sh))
            with tf.GradientTape() as tape:
                loss = self._gpr.training_loss()
            grads = tape.gradient(loss, variables)
            return loss, tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)

        self._loss_and_grad = loss_and_grad

    @classmethod
    def get(cls, dim: int, kind: "str | Kernel", prior: LengthscalePrior | PerLengthscalePrior, noise_floor: float,
            tie: Tie | None = None) -> "Fitter":
        tie = tie if tie is not None else Tie.none(dim)
        form = as_kernel(kind).form()
        key = (dim, form.kind if not form.additive else form, prior, noise_floor, tie.key())
        with cls._cache_lock:
            if key not in cls._cache:
                cls._cache[key] = cls(dim, kind, prior, noise_floor, tie)
            return cls._cache[key]

    @property
    def model(self):
        """The GPflow GPR with the current hyperparameters (its data are the Variables ``X`` and ``Y``)."""
        if self._gpr_params is not self._params:
            ls, var, noise = self._params
            if self.additive:
                for k, (ls_k, var_k) in zip(self._parts, self._part_values(self.tie.expand(ls), var, self.weight)):
                    k.lengthscales.assign(ls_k)
                    k.variance.assign(var_k)
            else:
                self.kernel.lengthscales.assign(self.tie.expand(ls))
                self.kernel.variance.assign(var)
            self.likelihood.variance.assign(noise)
            self._gpr_params = self._params
        return self._gpr

    def _part_values(self, ls: np.ndarray, var: float, w: float) -> list[tuple[np.ndarray, float]]:
        """(lengthscales, variance) of each GPflow part of the sum + product kernel: the product part, then
        one per group (lengthscales per column ``ls`` [P])."""
        G = len(self.form.groups)
        return [(ls, var * (1.0 - w))] + [(ls[a:b], var * w / G) for a, b in self.form.groups]

    def set_data(self, X: np.ndarray, z: np.ndarray) -> None:
        """Training data for ``minimize`` (numpy; copied into ``X``/``Y`` only by the tensorflow backend)."""
        self._data = (np.asarray(X, dtype=np.float64), np.asarray(z, dtype=np.float64))

    def set_params(self, ls: np.ndarray, var: float, noise: float, weight: float | None = None) -> None:
        """Free lengthscales [Q], kernel variance, noise variance (and the sum + product kernel's additive
        share, kept when None)."""
        self._params = (np.array(ls, dtype=float).reshape(-1), float(var), float(noise))
        if self.form.fits_weight and weight is not None:
            self.weight = float(min(max(weight, 1e-6), 1.0 - 1e-6))
        self.last_cholesky = None

    def params(self) -> tuple[np.ndarray, float, float]:
        ls, var, noise = self._params
        return ls.copy(), var, noise

    def unconstrained(self) -> np.ndarray:
        ls, var, noise = self._params
        u = np.concatenate([inv_softplus(ls), inv_softplus([var]), inv_softplus([noise - self.noise_floor])])
        if self.form.fits_weight:
            u = np.append(u, math.log(self.weight / (1.0 - self.weight)))
        return u

    def loss(self) -> ExactLoss:
        if self._data is None:
            raise RuntimeError("Fitter.set_data must be called before fitting")
        return ExactLoss(self.form, *self._data, self.prior, self.noise_floor, self.tie)

    def gpflow_loss_and_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """GPflow's compiled training loss and its gradient at the unconstrained parameters u (free
        lengthscales, variance, noise) on the data of ``set_data``: the reference for the numpy loss."""
        X, z = self._data
        self.X.assign(X)
        self.Y.assign(z[:, None])
        u = np.asarray(u, dtype=np.float64)
        q = self.tie.n_free
        if self.additive:
            return self._gpflow_additive_loss_and_grad(u)
        if not self.numpy_prior:
            loss, grad = self._loss_and_grad(u)
            self._gpr_params = None  # the GPflow parameters are now at u
            return float(loss.numpy()), grad.numpy()
        x = np.concatenate([self.tie.expand(u[:q]), u[q:]])
        loss, grad = self._loss_and_grad(x)
        self._gpr_params = None
        grad = grad.numpy()
        p_loss, p_grad = self.prior.neg_log(softplus(u[:q]))
        g_ls = self.tie.reduce(grad[: self.dim]) + p_grad * (1.0 / (1.0 + np.exp(-u[:q])))
        return float(loss.numpy()) + float(np.sum(p_loss)), np.concatenate([g_ls, grad[self.dim:]])

    def _gpflow_additive_loss_and_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """GPflow's loss of the Sum kernel with its parts' parameters set from u = [free lengthscales, variance,
        noise, logit(w)], plus the priors (numpy); the gradient by the chain rule through the shared values."""
        from scipy.special import expit

        q = self.tie.n_free
        ls_free, var, noise = softplus(u[:q]), float(softplus(u[q])), float(self.noise_floor + softplus(u[q + 1]))
        w = float(expit(u[q + 2])) if self.form.fits_weight else self.form.weight
        ls = self.tie.expand(ls_free)
        values = self._part_values(ls, var, w)
        x = np.concatenate([np.concatenate([inv_softplus(l_k), inv_softplus([v_k])]) for l_k, v_k in values]
                           + [[u[q + 1]]])
        loss, grad = self._loss_and_grad(x)
        self._gpr_params = None
        grad = grad.numpy()
        # back from each part's unconstrained parameters to the shared ones
        g_cols, g_var, g_w, k = np.zeros(self.dim), 0.0, 0.0, 0
        G = len(self.form.groups)
        for j, (l_k, v_k) in enumerate(values):
            n_k = len(l_k)
            g_l = grad[k : k + n_k] / expit(inv_softplus(l_k))  # d loss / d lengthscale
            g_v = float(grad[k + n_k] / expit(inv_softplus(v_k)))  # d loss / d variance of the part
            if j == 0:
                g_cols += g_l
                g_w -= g_v * var
            else:
                a, b = self.form.groups[j - 1]
                g_cols[a:b] += g_l
                g_w += g_v * var / G
            g_var += g_v * v_k / var
            k += n_k + 1
        g_noise = grad[k]
        # GPflow's loss has the noise prior (the likelihood's); the lengthscale prior and the variance prior
        # (on the total variance) are added here
        p_loss, p_ls = self.prior.neg_log(ls_free)
        v_loss, p_var = neg_log_gamma(var, VARIANCE_PRIOR)
        p_loss = float(np.sum(p_loss)) + v_loss
        g_ls = (self.tie.reduce(g_cols) + p_ls) * expit(u[:q])
        g_v_u = (g_var + p_var) * expit(u[q])
        total = float(loss.numpy()) + p_loss
        if not self.form.fits_weight:
            return total, np.concatenate([g_ls, [g_v_u, g_noise]])
        w_loss, w_grad = neg_log_weight_prior(w)  # the Beta prior on the share
        return total + w_loss, np.concatenate([g_ls, [g_v_u, g_noise, (g_w + w_grad) * w * (1.0 - w)]])

    def minimize(self, maxiter: int) -> float:
        """L-BFGS-B (scipy) on the training loss (negative log marginal likelihood + priors)."""
        from scipy.optimize import minimize

        if self.backend == "tensorflow":
            return self._minimize_tf(maxiter)
        loss_fn = self.loss()
        bounds = lengthscale_bounds(self.prior, self.tie.n_free, 2 + int(self.form.fits_weight))  # the rest unbounded
        res = minimize(guarded(loss_fn), into_bounds(self.unconstrained(), bounds), jac=True, method="L-BFGS-B",
                       bounds=bounds,
                       options={"maxiter": maxiter, "ftol": self.ftol})
        self.last_evaluations = loss_fn.evaluations
        loss = float(res.fun)
        if not math.isfinite(loss) or loss >= 1e30:
            raise FloatingPointError(f"non-finite training loss ({loss}) or Cholesky failure at every step")
        u = res.x
        self._params = loss_fn.params(u)
        if self.form.fits_weight:
            self.weight = loss_fn.weight(u)
        self.last_cholesky = loss_fn.last[1] if loss_fn.last is not None and np.array_equal(loss_fn.last[0], u) \
            else None
        return loss

    def _minimize_tf(self, maxiter: int) -> float:
        """The same fit on GPflow's compiled loss (untied lengthscales only; for benchmarks)."""
        from scipy.optimize import minimize

        if self.tie.index is not None or self.additive:
            raise NotImplementedError("the tensorflow backend fits untied lengthscales of the product kernel only")
        X, z = self._data
        self.X.assign(X)
        self.Y.assign(z[:, None])
        _ = self.model  # copies the parameters in
        x0 = np.concatenate([np.reshape(v.numpy(), -1) for v in self._variables])
        n = [0]

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            n[0] += 1
            loss, grad = self._loss_and_grad(x)
            loss, grad = float(loss.numpy()), grad.numpy()
            if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                return 1e30, np.zeros_like(x)  # makes the line search step back
            return loss, grad

        res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                       options={"maxiter": maxiter, "ftol": self.ftol})
        self._loss_and_grad(res.x)  # leave the variables at the optimum
        self.last_evaluations = n[0]
        loss = float(res.fun)
        if not math.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss ({loss})")
        self._params = (np.array(self.kernel.lengthscales.numpy(), dtype=float).reshape(-1),
                        float(self.kernel.variance.numpy()), float(self.likelihood.variance.numpy()))
        self._gpr_params = self._params
        self.last_cholesky = None
        return loss
