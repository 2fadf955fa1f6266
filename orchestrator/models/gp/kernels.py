"""Stationary kernels in numpy: ARD Matérn-5/2, Matérn-3/2 and RBF, with optionally tied lengthscales.

Every kernel here is k(a, b) = var * g(s), with s the lengthscale-scaled distance between a and b
(s = sqrt(5) r for Matérn-5/2, sqrt(3) r for Matérn-3/2, r^2 for RBF; r^2 = sum_d (a_d - b_d)^2 / l_d^2).
These are GPflow's Matern52, Matern32 and SquaredExponential kernels, evaluated in place in cache-sized
blocks (``posterior.py``) and differentiated by hand for the numpy losses (``loss.py``, ``sparse.py``).

**Tied lengthscales** (:class:`Tie`) are how categorical inputs get a kernel of their own. A categorical
parameter is encoded as one-hot columns; giving all of its columns one lengthscale l makes its part of r^2
either 0 (same level) or 2 / l^2 (different levels), whatever the two levels are: an exchangeable
(overlap / Hamming) kernel over the levels with one learned lengthscale per parameter, combined with the
numeric inputs inside the same Matérn. A parameter encoded by chemical descriptors is tied the same way
(one isotropic lengthscale over its descriptor columns). The kernels below always take one lengthscale
per column (``Tie.expand``); the losses fit the tied ones and sum their gradients (``Tie.reduce``).

**The sum + product kernel** (:class:`Kernel` with groups; ``categorical_kernel: additive``) adds to the
product kernel one kernel per input, on that input's columns only, with the same lengthscales. Every
function that builds a kernel matrix for the exact GP (``cross``, ``kernel_matrix``) takes a kernel name or
a :class:`Kernel`; the loss's derivatives come from ``additive_kernel_and_gradient`` (over every pair of
training rows at once, :class:`AdditivePairs`, or from ``additive_and_dk``'s matrices for large sets).
``kernel_and_dk`` and ``cross_and_dk`` (the sparse and multi-task GPs') refuse it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("matern52", "matern32", "rbf")
_SCALE = {"matern52": math.sqrt(5.0), "matern32": math.sqrt(3.0), "rbf": 1.0}


@dataclass(frozen=True)
class Tie:
    """Which free lengthscale each kernel column uses: ``index[c]`` in 0..n_free-1, for P columns.

    ``Tie.none(P)`` (every column its own lengthscale) is represented by ``index=None``: the fast path,
    bit for bit what an untied kernel computes.
    """

    columns: int
    index: tuple[int, ...] | None = None

    @staticmethod
    def none(columns: int) -> "Tie":
        return Tie(columns=columns)

    @staticmethod
    def from_groups(widths: list[int], tied: list[bool]) -> "Tie":
        """Columns in consecutive groups of the given widths; a tied group shares one lengthscale."""
        index: list[int] = []
        for width, t in zip(widths, tied):
            start = (index[-1] + 1) if index else 0
            index.extend([start] * width if t else range(start, start + width))
        if len(set(index)) == len(index):
            return Tie.none(len(index))
        return Tie(columns=len(index), index=tuple(index))

    @property
    def n_free(self) -> int:
        return self.columns if self.index is None else (max(self.index) + 1 if self.index else 0)

    def expand(self, ls: np.ndarray) -> np.ndarray:
        """Free lengthscales [n_free] -> one per column [P]."""
        ls = np.asarray(ls, dtype=np.float64)
        return ls if self.index is None else ls[np.asarray(self.index)]

    def reduce(self, g: np.ndarray) -> np.ndarray:
        """A gradient per column [P] -> per free lengthscale [n_free] (tied columns' gradients add up)."""
        if self.index is None:
            return g
        return np.bincount(np.asarray(self.index), weights=g, minlength=self.n_free)

    def key(self) -> tuple:
        return (self.columns, self.index)


def sdist(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The kernel's argument s between rows of A and B, [len(A), len(B)], in ``out``.

    s = sqrt(5) r for Matérn-5/2, sqrt(3) r for Matérn-3/2, and r^2 for the RBF kernel,
    with r the lengthscale-scaled Euclidean distance (``ls``: one per column).
    """
    c = _SCALE[kind] / np.asarray(ls, dtype=np.float64)
    As = A * c
    out = np.empty((len(A), len(B))) if out is None else out
    if B is A:  # a @ a.T: BLAS's symmetric product (syrk), half the work of a general one and exactly
        np.dot(As, As.T, out=out)  # symmetric; scaling by -2 after it is exact, so the values are the same
        out *= -2.0
        sq = np.einsum("ij,ij->i", As, As)
        out += sq[:, None]
        out += sq[None, :]
    else:
        Bs = B * c
        np.dot(As * -2.0, Bs.T, out=out)
        out += np.einsum("ij,ij->i", As, As)[:, None]
        out += np.einsum("ij,ij->i", Bs, Bs)[None, :]
    np.maximum(out, 0.0, out=out)
    if kind != "rbf":
        np.sqrt(out, out=out)
    return out


def k_of_s(kind: str, s: np.ndarray, var: float, tmp: np.ndarray | None = None) -> np.ndarray:
    """k from the kernel's argument, in place in ``s`` (``tmp``: scratch of the same shape).

    Matérn-5/2: var * (1 + s + s^2/3) * exp(-s), computed as var/3 * ((s + 1.5)^2 + 0.75) * exp(-s)
    (the same polynomial, two fewer passes over the block).
    """
    if kind == "rbf":
        s *= -0.5
        s += math.log(var)
        return np.exp(s, out=s)
    tmp = np.empty_like(s) if tmp is None else tmp
    if kind == "matern52":
        np.subtract(math.log(var / 3.0), s, out=tmp)
        np.exp(tmp, out=tmp)
        s += 1.5
        np.square(s, out=s)
        s += 0.75
    else:  # matern32: var * (1 + s) * exp(-s)
        np.subtract(math.log(var), s, out=tmp)
        np.exp(tmp, out=tmp)
        s += 1.0
    s *= tmp
    return s


def cross(kind: "str | Kernel", A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float,
          out: np.ndarray | None = None, tmp: np.ndarray | None = None) -> np.ndarray:
    """k(A, B) [len(A), len(B)], built in place in ``out``. ``kind``: a kernel name, or a :class:`Kernel`
    (the sum + product kernel when it has groups): every caller of the exact GP goes through here."""
    if not isinstance(kind, str):
        if kind.additive and kind.weight > 0.0:  # (w = 0: the product kernel, bit for bit)
            return additive_cross(kind, A, B, ls, var, out)
        kind = kind.kind
    return k_of_s(kind, sdist(kind, A, B, ls, out), var, tmp)


def kernel_matrix(kind: "str | Kernel", A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float) -> np.ndarray:
    """k(A, B) [len(A), len(B)] for one lengthscale per column ``ls``."""
    return cross(kind, np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64), ls, var)


def _dk_factor(kind: str, s: np.ndarray, K: np.ndarray, var: float) -> np.ndarray:
    """G with dk/d(ls_d) = G * (a_d - b_d)^2 / ls_d^3, from the argument s (overwritten) and k."""
    if kind == "rbf":
        return K
    e = np.exp(-s)
    if kind == "matern52":
        s += 1.0
        s *= e
        s *= var * 5.0 / 3.0  # var * 5/3 * (1 + s) * exp(-s)
        return s
    e *= 3.0 * var  # matern32: 3 var exp(-s)
    return e


def _product_only(kind: "str | Kernel", where: str) -> str:
    if isinstance(kind, str):
        return kind
    if kind.additive:
        raise NotImplementedError(f"{where} supports the product kernel only (categorical_kernel: product)")
    return kind.kind


def kernel_and_dk(kind: str, X: np.ndarray, ls: np.ndarray, var: float) -> tuple[np.ndarray, np.ndarray]:
    """K(X, X) (bit for bit what ``kernel_matrix`` gives) and G with
    dK/d(ls_d) = G * (x_id - x_jd)^2 / ls_d^3 (elementwise). Product kernels only (``additive_and_dk``)."""
    kind = _product_only(kind, "kernel_and_dk")
    s = sdist(kind, X, X, ls)
    return _k_and_dk(kind, s, var)


def _k_and_dk(kind: str, s: np.ndarray, var: float) -> tuple[np.ndarray, np.ndarray]:
    """k and G (as ``_dk_factor``) from the argument s (overwritten), with one exp over the block: G reuses
    the factor var/3 exp(-s) (Matérn-5/2; var exp(-s) for Matérn-3/2) that ``k_of_s`` leaves in its scratch."""
    if kind == "rbf":
        K = k_of_s(kind, s, var)
        return K, K
    tmp = np.empty_like(s)
    K = k_of_s(kind, s.copy(), var, tmp)
    if kind == "matern52":  # G = var 5/3 (1 + s) exp(-s) = 5 (1 + s) tmp
        s += 1.0
        s *= tmp
        s *= 5.0
        return K, s
    tmp *= 3.0  # matern32: G = 3 var exp(-s)
    return K, tmp


def cross_and_dk(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """k(A, B) and G with dk/d(ls_d) = G * (a_id - b_jd)^2 / ls_d^3 (product kernels only)."""
    kind = _product_only(kind, "cross_and_dk")
    return _k_and_dk(kind, sdist(kind, A, B, ls), var)


def lengthscale_gradient(M: np.ndarray, Xc: np.ndarray) -> np.ndarray:
    """sum_ij M_ij (x_id - x_jd)^2 for each column d [D], M [N, N] symmetric, Xc [N, D] (centred rows: the
    sum is shift-invariant and centring keeps it accurate), by matrix products: the lengthscale gradient
    of a product kernel is -S / (2 ls^3) with M = W o G (the exact, sparse, additive and multi-task GPs)."""
    m = M.sum(axis=1)
    return 2.0 * (m @ (Xc * Xc)) - 2.0 * np.einsum("id,id->d", Xc, M @ Xc)


# -- the additive (sum + product) kernel of categorical inputs -----------------------------------------------

@dataclass(frozen=True)
class Kernel:
    """A kernel's form: ``kind`` alone is the ARD product kernel above; with ``groups`` it is the sum + product
    kernel of mixed and categorical inputs,

        k(a, b) = var * ((1 - w) k_kind(a, b) + w / G * sum_g k_kind(a_g, b_g)),

    with ``groups`` the G column ranges [start, stop) of the inputs (a categorical input's one-hot columns
    are one group, each numeric input its own) and ``weight`` w in [0, 1] the additive part's share (fitted,
    with a Beta prior, ``priors.WEIGHT_PRIOR``, or fixed).
    Both parts use the same lengthscales (one per column), so the additive form costs one hyperparameter
    (w) over the product kernel, and k(x, x) = var still. The product part models every interaction;
    the additive part says that each input has an effect of its own, so that a few points teach the GP
    which input matters (the "main effects" of a categorical pool) and a level never tried stays uncertain.
    """

    kind: str
    groups: tuple[tuple[int, int], ...] = ()
    weight: float = 0.0
    fixed: bool = False  # w is a setting (``weight``), not fitted

    @property
    def additive(self) -> bool:
        return bool(self.groups)

    @property
    def fits_weight(self) -> bool:
        return self.additive and not self.fixed

    def with_weight(self, weight: float) -> "Kernel":
        return Kernel(self.kind, self.groups, float(weight), self.fixed)

    def form(self) -> "Kernel":
        """What a fit's shape depends on: the weight only when it is fixed."""
        return self if self.fixed else self.with_weight(0.0)


def as_kernel(kernel: "str | Kernel") -> Kernel:
    return kernel if isinstance(kernel, Kernel) else Kernel(kernel)


def _parts(kernel: Kernel, A: np.ndarray, B: np.ndarray, ls: np.ndarray):
    """The product part's argument s [len(A), len(B)] and each group's s_g (``sdist`` on its columns)."""
    ls = np.asarray(ls, dtype=np.float64)
    sg = [sdist(kernel.kind, A[:, a:b], B[:, a:b], ls[a:b]) for a, b in kernel.groups]
    if kernel.kind == "rbf":  # s is r^2: the groups' add up
        s = np.sum(sg, axis=0)
    else:  # s = c r: the product's s^2 is the sum of the groups' s_g^2
        s = np.sqrt(np.sum([x * x for x in sg], axis=0))
    return s, sg


def additive_cross(kernel: Kernel, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float,
                   out: np.ndarray | None = None) -> np.ndarray:
    """k(A, B) [len(A), len(B)] of the sum + product kernel (in ``out`` when given)."""
    w, G = kernel.weight, len(kernel.groups)
    s, sg = _parts(kernel, A, B, ls)
    K = k_of_s(kernel.kind, s, var * (1.0 - w)) if w < 1.0 else np.zeros_like(s)
    if w > 0.0:
        for x in sg:
            K += k_of_s(kernel.kind, x, var * w / G)
    if out is None:
        return K
    out[...] = K
    return out


def additive_and_dk(kernel: Kernel, X: np.ndarray, ls: np.ndarray, var: float):
    """K(X, X) of the sum + product kernel and what its gradient needs: (K, G, Gs, D) with
    dK/d(ls_d) = (G + Gs[g]) * (x_id - x_jd)^2 / ls_d^3 for a column d of group g, and dK/dw = D.
    (dK/dvar = K / var, as for every kernel here.)"""
    w, G = kernel.weight, len(kernel.groups)
    s, sg = _parts(kernel, X, X, ls)
    P = k_of_s(kernel.kind, s.copy(), 1.0)  # the product part at unit variance
    Gp = _dk_factor(kernel.kind, s, P * (var * (1.0 - w)), var * (1.0 - w))
    S = np.zeros_like(P)  # the additive part at unit variance: the mean of the groups' kernels
    Gs = []
    for x in sg:
        Kg = k_of_s(kernel.kind, x.copy(), 1.0)
        S += Kg
        Gs.append(_dk_factor(kernel.kind, x, Kg * (var * w / G), var * w / G))
    S /= G
    K = var * ((1.0 - w) * P + w * S)
    return K, Gp, Gs, var * (S - P)


class AdditivePairs:
    """The sum + product kernel on one training set X [N, P], for its loss: the squared differences of every
    pair of rows (i < j) are computed once per optimisation run (``loss.ExactLoss``), so an evaluation at new lengthscales is one matrix product
    [pairs, P] x [P, G + 1] and a few passes over [pairs, G + 1] arrays, where ``additive_and_dk`` builds
    G + 1 distance matrices and gradients one by one (about three times faster on a 576-candidate pool at
    50 points). It keeps pairs x P floats: ``fits`` says when that is small enough."""

    LIMIT = 4_000_000  # floats (32 MB): 50 points x 21 columns are 26,000; 600 x 21 are 3.8 million

    @staticmethod
    def fits(n: int, columns: int) -> bool:
        return n * (n - 1) // 2 * columns <= AdditivePairs.LIMIT

    def __init__(self, kernel: Kernel, X: np.ndarray):
        X = np.asarray(X, dtype=np.float64)
        n, p = X.shape
        self.kernel, self.n = kernel, n
        i, j = np.triu_indices(n, 1)
        self.D2 = np.square(X[i] - X[j])  # [pairs, P]
        # where each pair sits in a flattened [N, N] matrix, above and below the diagonal, and the diagonal
        self.above, self.below, self.diagonal = i * n + j, j * n + i, np.arange(n) * (n + 1)
        # column d's part in each of the G + 1 terms: the product (every column), then its group's
        self.member = np.zeros((p, len(kernel.groups) + 1))
        self.member[:, 0] = 1.0
        for g, (a, b) in enumerate(kernel.groups):
            self.member[a:b, g + 1] = 1.0

    def terms(self, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each term's kernel at unit variance U and its derivative factor F (``_dk_factor`` at unit
        variance), both [pairs, G + 1]: the product term first, then one per group."""
        kind = self.kernel.kind
        S = self.D2 @ (self.member * (_SCALE[kind] ** 2 / np.square(ls))[:, None])  # each term's s^2 (RBF: s)
        if kind == "rbf":
            S *= -0.5
            U = np.exp(S, out=S)
            return U, U
        np.sqrt(S, out=S)
        E = np.exp(-S)
        F = S + 1.0
        F *= E
        if kind == "matern52":  # U = (1 + s + s^2/3) e^-s = ((s + 1.5)^2 + 0.75) / 3 e^-s, F = 5/3 (1 + s) e^-s
            S += 1.5
            np.square(S, out=S)
            S += 0.75
            S *= E
            S *= 1.0 / 3.0
            F *= 5.0 / 3.0
            return S, F
        E *= 3.0  # matern32: U = (1 + s) e^-s, F = 3 e^-s
        return F, E

    def kernel_and_gradient(self, ls: np.ndarray, var: float, w: float):
        """K(X, X) [N, N] and ``gradient(W)``: (sum_ij W_ij dK_ij/d(ls_d) per column [P], sum_ij W_ij dK_ij/dw)
        for a symmetric W [N, N]."""
        ls = np.asarray(ls, dtype=np.float64)
        G = len(self.kernel.groups)
        U, F = self.terms(ls)
        # per term: its variance share (K = U v), and dK/dw (each group's 1/G minus the product's 1)
        v = np.full((G + 1, 2), [var * w / G, var / G])
        v[0] = var * (1.0 - w), -var
        kd = U @ v  # [pairs, 2]: k and dk/dw of each pair
        F *= v[:, 0]
        K = np.empty(self.n * self.n)
        K[self.above] = kd[:, 0]
        K[self.below] = kd[:, 0]
        K[self.diagonal] = var

        def gradient(W: np.ndarray) -> tuple[np.ndarray, float]:
            wp = W.take(self.above)  # the pairs above the diagonal count twice (W, dK symmetric; dK_ii = 0)
            T = self.D2.T @ (F * wp[:, None])  # [P, G + 1]
            dls = 2.0 * np.einsum("dt,dt->d", T, self.member) / ls**3
            return dls, 2.0 * float(wp @ kd[:, 1])

        return K.reshape(self.n, self.n), gradient


def additive_kernel_and_gradient(kernel: Kernel, X: np.ndarray, ls: np.ndarray, var: float,
                                 pairs: AdditivePairs | None = None):
    """K(X, X) of the sum + product kernel (weight ``kernel.weight``) and ``gradient(W)`` as
    :meth:`AdditivePairs.kernel_and_gradient` gives them; without ``pairs`` (a training set too large to keep
    its pairs) from ``additive_and_dk``'s matrices. X: centred (distances are shift-invariant; centring helps
    the gradient's sums), as ``loss.ExactLoss`` keeps it."""
    if pairs is not None:
        return pairs.kernel_and_gradient(ls, var, kernel.weight)
    ls = np.asarray(ls, dtype=np.float64)
    K, Gp, Gs, D = additive_and_dk(kernel, X, ls, var)

    def gradient(W: np.ndarray) -> tuple[np.ndarray, float]:
        S = lengthscale_gradient(W * Gp, X)  # the product part: every column
        for (a, b), Gg in zip(kernel.groups, Gs):  # each group's own part: its columns
            S[a:b] += lengthscale_gradient(W * Gg, X[:, a:b])
        return S / ls**3, float(np.vdot(W, D))

    return K, gradient
