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
a :class:`Kernel`; the loss's derivatives are ``additive_and_dk``. ``kernel_and_dk`` and ``cross_and_dk``
(the sparse and multi-task GPs') refuse it.
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
    Bs = B * c
    out = np.empty((len(A), len(B))) if out is None else out
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
    K = k_of_s(kind, s.copy(), var)
    return K, _dk_factor(kind, s, K, var)


def cross_and_dk(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """k(A, B) and G with dk/d(ls_d) = G * (a_id - b_jd)^2 / ls_d^3 (product kernels only)."""
    kind = _product_only(kind, "cross_and_dk")
    s = sdist(kind, A, B, ls)
    K = cross(kind, A, B, ls, var)
    return K, _dk_factor(kind, s, K, var)


def lengthscale_gradient(M: np.ndarray, Xc: np.ndarray) -> np.ndarray:
    """sum_ij M_ij (x_id - x_jd)^2 per column d, for symmetric M [N, N] and centred X [N, D]."""
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
