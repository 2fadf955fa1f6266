"""Chemical encodings: the levels of a categorical input, each a molecule given by SMILES, as numbers.

``level_features(smiles, encoding)`` turns L SMILES into an [L, K] float64 array, one row per level:

- ``descriptors``: RDKit's 2D descriptors (every function of ``rdkit.Chem.Descriptors.descList``, in that
  order); a descriptor RDKit cannot compute for some level (NaN or infinite) is dropped;
- ``fingerprints``: Morgan fingerprint bits (``radius``, ``bits``; RDKit's Morgan generator).

Then, over the L levels: columns constant over the levels are dropped; a column whose absolute
correlation with an earlier kept column exceeds ``max_correlation`` is dropped (greedy, in column order);
with ``components: K``, the kept columns (standardised) are replaced by their first K principal components
(signs fixed so the largest loading is positive), or by as many as the levels span when that is fewer
(L levels span at most L - 1 directions); finally each column is scaled to [0, 1] over the levels.
Every step is deterministic, and results are cached per process, keyed by the SMILES and the settings.

RDKit is optional (``pip install 'looplab[chem]'``); without it :func:`level_features` raises
:class:`EncodingError` saying so. Errors name the level (and its SMILES) at fault.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Sequence

import numpy as np

from .config import EncodingSpec
from .errors import LooplabError

INSTALL_HINT = "pip install 'looplab[chem]'"
SLOW_DESCRIPTORS = 10.0  # seconds of computing descriptors before it is said (once)
log = logging.getLogger("looplab.encodings")


class EncodingError(LooplabError):
    """A SMILES encoding cannot be made (RDKit missing, a level without SMILES, an invalid SMILES)."""


def rdkit_available() -> bool:
    try:
        import rdkit  # noqa: F401
    except ImportError:
        return False
    return True


def level_features(levels: Sequence[str], smiles: Sequence[str], encoding: EncodingSpec) -> np.ndarray:
    """[L, K] features in [0, 1] of L levels whose molecules are ``smiles`` (aligned with ``levels``).

    ``levels`` only name the levels in errors. The same SMILES and settings give the same array.
    """
    if len(levels) != len(smiles):
        raise ValueError("levels and smiles must be aligned")
    for level, s in zip(levels, smiles):
        if not isinstance(s, str) or not s.strip():
            raise EncodingError(f"the level '{level}' has no SMILES; give one for every level")
    key = (tuple(str(v) for v in levels), tuple(s.strip() for s in smiles), encoding.kind,
           encoding.components, encoding.max_correlation, encoding.bits, encoding.radius)
    return _cached(key).copy()


@lru_cache(maxsize=256)
def _cached(key: tuple) -> np.ndarray:
    levels, smiles, kind, components, max_corr, bits, radius = key
    _, raw = raw_features(levels, smiles, kind, bits=bits, radius=radius)
    return reduce_columns(raw, max_correlation=max_corr, components=components)


def _molecules(levels: Sequence[str], smiles: Sequence[str]) -> list:
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise EncodingError(f"SMILES encodings need RDKit: {INSTALL_HINT}") from None
    RDLogger.DisableLog("rdApp.*")  # invalid SMILES are reported below, once, by level
    mols = []
    for level, s in zip(levels, smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise EncodingError(f"the level '{level}' has an invalid SMILES '{s[:200]}' (RDKit cannot parse it)")
        mols.append(mol)
    return mols


def same_molecule(a: str, b: str) -> bool:
    """Whether two SMILES write one molecule (RDKit's canonical SMILES are equal; True if either does not parse,
    as nothing then tells them apart)."""
    from rdkit import Chem

    ma, mb = Chem.MolFromSmiles(a), Chem.MolFromSmiles(b)
    return ma is None or mb is None or Chem.MolToSmiles(ma) == Chem.MolToSmiles(mb)


def twin_advice(kind: str, a: str, b: str, *, one: str) -> str:
    """What to say of two levels with the SMILES a and b whose features are identical: one molecule under two
    names (make them ``one``), or two molecules the encoding does not tell apart (a finer one; a fingerprint of
    radius 1 and 64 bits made butanol and pentanol the same, and the message asked if they were one molecule:
    fuzz round eighteen)."""
    if same_molecule(a, b):
        return f"have the same {kind} (one molecule under two names?)", f"make them {one}"
    finer = ("raise encoding.radius or encoding.bits" if kind == "fingerprints" else
             "raise encoding.components or encoding.max_correlation, or use encoding: fingerprints")
    return f"are different molecules with the same {kind}", finer


def raw_features(levels: Sequence[str], smiles: Sequence[str], kind: str, *, bits: int = 1024,
                 radius: int = 2) -> tuple[list[str], np.ndarray]:
    """Column names and [L, D] unscaled features (descriptor values, or fingerprint bits 0/1)."""
    mols = _molecules(levels, smiles)
    if kind == "descriptors":
        from rdkit.Chem import Descriptors

        rows, start, said = [], time.monotonic(), False
        for k, mol in enumerate(mols):
            if not said and time.monotonic() - start > SLOW_DESCRIPTORS:  # validate and run would be silent
                said = True
                log.warning("computing RDKit's descriptors of %d molecules takes a while: %d done after %.0f s "
                            "(large molecules are slow; the result is kept for the rest of the command)", len(mols),
                            k, time.monotonic() - start)
            row = []
            for _name, fn in Descriptors.descList:
                try:
                    row.append(float(fn(mol)))
                except Exception:  # a descriptor RDKit cannot compute for this molecule: dropped below
                    row.append(float("nan"))
            rows.append(row)
        X = np.array(rows, dtype=float)
        ok = np.all(np.isfinite(X), axis=0)
        return [n for (n, _), keep in zip(Descriptors.descList, ok) if keep], X[:, ok]
    if kind == "fingerprints":
        from rdkit.Chem import rdFingerprintGenerator

        gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
        return [f"bit{i}" for i in range(bits)], np.array([gen.GetFingerprintAsNumPy(m) for m in mols], dtype=float)
    raise ValueError(f"unknown encoding {kind!r}")


def reduce_columns(X: np.ndarray, *, max_correlation: float = 0.95, components: int | None = None) -> np.ndarray:
    """Drop constant and near-duplicate columns of [L, D] ``X``, optionally keep K principal components,
    and scale each column to [0, 1]. At least one column is kept when any column varies."""
    X = np.asarray(X, dtype=float)
    span = X.max(axis=0) - X.min(axis=0) if X.size else np.zeros(X.shape[1])
    X = X[:, span > 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0) if X.size else 1.0)]
    if X.shape[1] == 0:
        return np.zeros((X.shape[0], 0))
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    kept: list[int] = []
    for j in range(Z.shape[1]):
        if all(abs(float(Z[:, j] @ Z[:, k]) / len(Z)) <= max_correlation for k in kept):
            kept.append(j)
    X, Z = X[:, kept], Z[:, kept]
    if components is not None:  # also when K >= the kept columns: they may span fewer directions than K
        _, sv, Vt = np.linalg.svd(Z, full_matrices=False)
        # never more components than the levels span: L levels have at most L - 1 directions, and a
        # component of (numerically) zero variance would become noise once scaled to [0, 1]
        components = max(1, min(components, int(np.sum(sv > 1e-8 * sv[0]))))
        V = Vt[:components].T  # [D, K]
        signs = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
        X = Z @ (V * np.where(signs == 0, 1.0, signs))
    lo, hi = X.min(axis=0), X.max(axis=0)
    return (X - lo) / np.where(hi > lo, hi - lo, 1.0)
