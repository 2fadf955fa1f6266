"""SMILES encodings of categorical inputs (orchestrator/encodings.py), with the real RDKit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import EncodingSpec, SpaceSpec
from orchestrator.encodings import EncodingError, _cached, level_features, raw_features, reduce_columns
from orchestrator.errors import ConfigError
from orchestrator.space import build_space

pytest.importorskip("rdkit", reason="RDKit is the optional looplab[chem] extra (in the dev extra)")

SOLVENTS = {"water": "O", "ethanol": "CCO", "dmso": "CS(C)=O", "toluene": "Cc1ccccc1", "thf": "C1CCOC1"}


def test_known_descriptor_values_before_scaling():
    names, X = raw_features(["ethanol", "water"], ["CCO", "O"], "descriptors")
    assert X.shape == (2, len(names)) and len(names) > 100
    molwt = names.index("MolWt")
    assert X[0, molwt] == pytest.approx(46.069, abs=0.01)
    assert X[1, molwt] == pytest.approx(18.015, abs=0.01)
    assert X[0, names.index("NumHDonors")] == 1 and X[0, names.index("HeavyAtomCount")] == 3


def test_same_input_same_columns_and_every_column_scaled():
    levels, smiles = list(SOLVENTS), list(SOLVENTS.values())
    for kind in ("descriptors", "fingerprints"):
        a = level_features(levels, smiles, EncodingSpec(kind=kind))
        _cached.cache_clear()  # recomputed, not served from the cache
        b = level_features(levels, smiles, EncodingSpec(kind=kind))
        np.testing.assert_array_equal(a, b)
        assert a.shape[0] == 5 and a.shape[1] >= 2
        np.testing.assert_allclose(a.min(axis=0), 0.0)
        np.testing.assert_allclose(a.max(axis=0), 1.0)
        assert len({tuple(r) for r in a}) == 5  # the five molecules stay distinct


def test_components_keep_that_many_columns():
    F = level_features(list(SOLVENTS), list(SOLVENTS.values()), EncodingSpec(kind="descriptors", components=3))
    assert F.shape == (5, 3)
    # five levels span four directions: asking for more components gives four, none of them constant
    F = level_features(list(SOLVENTS), list(SOLVENTS.values()), EncodingSpec(kind="descriptors", components=8))
    assert F.shape == (5, 4) and np.all(F.max(axis=0) - F.min(axis=0) == pytest.approx(1.0))


def test_reduce_drops_constant_and_near_duplicate_columns():
    x = np.array([0.0, 1.0, 2.0, 4.0])
    X = np.column_stack([x, 2 * x + 1, np.full(4, 7.0), [1.0, 0.0, 1.0, 0.0], -x + 0.01 * np.array([0, 1, 0, 1])])
    R = reduce_columns(X, max_correlation=0.95)
    # kept: x (scaled) and the alternating column; 2x+1 duplicates x, the constant goes, -x is |corr| > 0.95
    np.testing.assert_allclose(R, [[0, 1], [0.25, 0], [0.5, 1], [1, 0]])


def test_a_level_without_smiles_is_an_error_naming_it():
    with pytest.raises(EncodingError, match="the level 'dmso' has no SMILES"):
        level_features(["water", "dmso"], ["O", ""], EncodingSpec(kind="descriptors"))


def test_an_invalid_smiles_names_level_and_smiles():
    with pytest.raises(EncodingError, match=r"the level 'bad' has an invalid SMILES 'C1CC\(' "):
        level_features(["water", "bad"], ["O", "C1CC("], EncodingSpec(kind="descriptors"))


# ----------------------------------------------------------------------------- in spaces


def _param(**extra) -> dict:
    return {"name": "solvent", "type": "categorical", "choices": list(SOLVENTS), **extra}


def test_a_categorical_parameter_encoded_by_descriptors_round_trips():
    spec = SpaceSpec.model_validate({"parameters": [
        {"name": "t", "type": "float", "low": 20, "high": 80},
        _param(smiles=SOLVENTS, encoding="descriptors")]})
    space = build_space(spec, Path("."))
    groups = space.column_groups()
    assert [(g.name, g.kind) for g in groups] == [("t", "numeric"), ("solvent", "descriptors")]
    assert groups[1].width == space.dim - 1 >= 2
    rows = [{"t": 50.0, "solvent": s} for s in SOLVENTS]
    back = space.decode(space.encode(rows))
    assert [r["solvent"] for r in back] == list(SOLVENTS)
    assert not space.refine_mask()[1:].any()  # the optimiser never moves descriptor columns


def test_a_parameter_choice_without_smiles_fails_validation():
    smiles = {k: v for k, v in SOLVENTS.items() if k != "thf"}
    with pytest.raises(Exception, match="the choice 'thf' has no SMILES"):
        SpaceSpec.model_validate({"parameters": [_param(smiles=smiles, encoding="descriptors")]})


@pytest.mark.parametrize("kind", ["descriptors", "fingerprints"])
def test_two_choices_with_the_same_molecule_are_refused_in_a_parameter_space(kind):
    """eth1: CCO and eth2: OCC decode to eth1 always: the model never proposed eth2, though the initial design
    measured it best (fuzz round of 2026-12-05)."""
    spec = SpaceSpec.model_validate({"parameters": [
        {"name": "c", "type": "categorical", "choices": ["eth1", "eth2", "meth"],
         "smiles": {"eth1": "CCO", "eth2": "OCC", "meth": "C"}, "encoding": kind}]})
    with pytest.raises(ConfigError) as exc:
        build_space(spec, Path("."))
    assert str(exc.value.problems[0]) == (
        f"space.parameters[0].smiles: 'eth1' (CCO) and 'eth2' (OCC) of 'c' have the same {kind} (one molecule "
        "under two names?): the model cannot tell them apart and would only ever propose 'eth1'; make them one "
        "choice, or use encoding: one-hot")


def test_two_molecules_a_coarse_fingerprint_does_not_tell_apart_are_told_to_refine_it():
    """Fuzz round eighteen: with radius 1 and 64 bits butanol and pentanol have one fingerprint, and the message
    asked whether they were one molecule and said to merge them."""
    spec = SpaceSpec.model_validate({"parameters": [
        {"name": "s", "type": "categorical", "choices": ["a", "b", "c"],
         "smiles": {"a": "CCCCO", "b": "CCCCCO", "c": "c1ccccc1"},
         "encoding": {"kind": "fingerprints", "radius": 1, "bits": 64}}]})
    with pytest.raises(ConfigError) as exc:
        build_space(spec, Path("."))
    assert str(exc.value.problems[0]) == (
        "space.parameters[0].smiles: 'a' (CCCCO) and 'b' (CCCCCO) of 's' are different molecules with the same "
        "fingerprints: the model cannot tell them apart and would only ever propose 'a'; raise encoding.radius or "
        "encoding.bits, or use encoding: one-hot")


def test_two_pool_levels_with_the_same_molecule_are_noted(tmp_path):
    """In a pool both stay proposable (each candidate is its own row), so it is not refused; but the model sees
    their candidates as one point, which a user should hear of (fuzz round seven, 2026-12-05: accepted silently).
    """
    space = _pool_space(tmp_path, POOL + "K,[K+].[OH-],eth2,OCC,2,50\n", encoding={"kind": "descriptors"})
    assert space.size == 5
    assert space.notes == [
        "space.pool.smiles.Solvent: the levels 'eth2' (OCC) and 'ethanol' (CCO) have the same descriptors (one "
        "molecule under two names?): the model sees their candidates as one point and cannot learn how their results differ; if "
        "they are one substance make them one level, if they differ (a supplier, a purity) use encoding: one-hot"]
    assert _pool_space(tmp_path, encoding={"kind": "descriptors"}).notes == []  # distinct molecules: nothing said


POOL = """Base,Base_SMILES,Solvent,Solvent_SMILES,x,yield
K,[K+].[OH-],water,O,1,10
Cs,[Cs+].[OH-],water,O,1,20
K,[K+].[OH-],ethanol,CCO,2,30
Cs,[Cs+].[OH-],dmso,CS(C)=O,2,40
"""


def _pool_space(tmp_path, text=POOL, **pool):
    (tmp_path / "p.csv").write_text(text)
    spec = {"path": "p.csv", "inputs": ["Base", "Solvent", "x"], "categorical": ["Base", "Solvent"],
            "smiles": {"Solvent": "Solvent_SMILES"}, **pool}
    return build_space(SpaceSpec.model_validate({"pool": spec}), tmp_path)


def test_a_pool_with_a_smiles_column_switches_encoding_by_one_key(tmp_path):
    onehot = _pool_space(tmp_path)
    assert [(g.name, g.kind, g.width) for g in onehot.column_groups()] == [
        ("Base", "categorical", 2), ("Solvent", "categorical", 3), ("x", "numeric", 1)]
    for kind in ("descriptors", "fingerprints"):
        space = _pool_space(tmp_path, encoding=kind)
        g = space.column_groups()[1]
        assert g.kind == "descriptors" and g.width >= 1
        # rows with the same solvent get the same columns; different solvents differ
        S = space.X[:, g.columns]
        np.testing.assert_array_equal(S[0], S[1])
        assert not np.array_equal(S[0], S[2]) and not np.array_equal(S[2], S[3])


def test_a_pool_level_without_smiles_names_level_and_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        _pool_space(tmp_path, POOL.replace("ethanol,CCO", "ethanol,"), encoding="descriptors")
    assert str(err.value) == ("space.pool.smiles.Solvent: p.csv, line 4: the level 'ethanol' of 'Solvent' has no "
                              "SMILES in column 'Solvent_SMILES'")


def test_a_pool_level_with_two_smiles_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="the level 'water' of 'Solvent' has two different SMILES"):
        _pool_space(tmp_path, POOL.replace("Cs,[Cs+].[OH-],water,O", "Cs,[Cs+].[OH-],water,[OH2]"))


def test_an_invalid_smiles_in_a_pool(tmp_path):
    with pytest.raises(ConfigError, match=r"space.pool.smiles.Solvent: 'Solvent': the level 'dmso' has an "
                                          r"invalid SMILES 'CS\(C=O'"):
        _pool_space(tmp_path, POOL.replace("CS(C)=O", "CS(C=O"), encoding="descriptors")


def test_without_rdkit_validate_says_to_install_the_extra(tmp_path, monkeypatch):
    from test_validate import assert_invalid, run_inprocess

    (tmp_path / "p.csv").write_text(POOL)
    (tmp_path / "c.yaml").write_text(
        "name: chem\nspace:\n  pool: {path: p.csv, inputs: [Base, Solvent, x], categorical: [Base, Solvent], "
        "smiles: {Base: Base_SMILES, Solvent: Solvent_SMILES}, encoding: descriptors}\nobjective: {name: yield}\n"
        "oracle: {kind: lookup}\ninitial: {n: 2}\nbudget: {max_experiments: 4}\n")
    monkeypatch.setitem(sys.modules, "rdkit", None)  # `import rdkit` raises ImportError, as when not installed
    out = run_inprocess("validate", tmp_path / "c.yaml")
    assert_invalid(out, tmp_path / "c.yaml", "space.pool.encoding", "needs RDKit", "pip install 'looplab[chem]'")
    assert len(out.error_lines()) == 1, out.stderr


def test_components_never_exceed_what_the_levels_span():
    """4 levels span at most 3 directions: a 4th component would be rounding noise scaled up to [0, 1]."""
    X = np.random.default_rng(0).random((4, 10))
    R = reduce_columns(X, components=4)
    assert R.shape == (4, 3)
    assert np.all(R.max(axis=0) - R.min(axis=0) == pytest.approx(1.0))


def test_descriptors_that_take_a_while_are_said_once(monkeypatch, caplog):
    """Fuzz round thirteen: 2,000 molecules of up to 250 atoms kept validate and run silent past 150 s (RDKit's
    Ipc takes 0.5 s on such a chain). Once SLOW_DESCRIPTORS seconds have passed, it is said, once."""
    pytest.importorskip("rdkit")
    import orchestrator.encodings as encodings

    monkeypatch.setattr(encodings, "SLOW_DESCRIPTORS", 0.0)
    with caplog.at_level("WARNING", logger="looplab.encodings"):
        names, X = encodings.raw_features(["a", "b", "c"], ["CCO", "CCCCO", "c1ccccc1"], "descriptors")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("computing RDKit's descriptors of 3 molecules takes a while: ")
    assert X.shape[0] == 3 and len(names) == X.shape[1] > 100
