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


def cross(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float,
          out: np.ndarray | None = None, tmp: np.ndarray | None = None) -> np.ndarray:
    """k(A, B) [len(A), len(B)], built in place in ``out``."""
    return k_of_s(kind, sdist(kind, A, B, ls, out), var, tmp)


def kernel_matrix(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float) -> np.ndarray:
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


def kernel_and_dk(kind: str, X: np.ndarray, ls: np.ndarray, var: float) -> tuple[np.ndarray, np.ndarray]:
    """K(X, X) (bit for bit what ``kernel_matrix`` gives) and G with
    dK/d(ls_d) = G * (x_id - x_jd)^2 / ls_d^3 (elementwise)."""
    s = sdist(kind, X, X, ls)
    K = k_of_s(kind, s.copy(), var)
    return K, _dk_factor(kind, s, K, var)


def cross_and_dk(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """k(A, B) and G with dk/d(ls_d) = G * (a_id - b_jd)^2 / ls_d^3."""
    s = sdist(kind, A, B, ls)
    K = cross(kind, A, B, ls, var)
    return K, _dk_factor(kind, s, K, var)


def lengthscale_gradient(M: np.ndarray, Xc: np.ndarray) -> np.ndarray:
    """sum_ij M_ij (x_id - x_jd)^2 per column d, for symmetric M [N, N] and centred X [N, D]."""
    m = M.sum(axis=1)
    return 2.0 * (m @ (Xc * Xc)) - 2.0 * np.einsum("id,id->d", Xc, M @ Xc)
