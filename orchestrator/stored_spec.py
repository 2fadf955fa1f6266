"""A stored campaign's spec judged by this version's checks.

A campaign stored by an older looplab may hold a setting that a later check refuses: one nothing read
(``min_distance`` on a pool), or one that could only fail (a noise floor above 0.5). Its results are
still good. The model, the acquisition, the oracle's params and the initial design decide which
experiments are made, not what a result means (so do the output transform and the failure rules), so a
refused setting there may be replaced: by the
campaign file's value when the campaign resumes (``engine.open_campaign``), or by its default when a
command rebuilds the campaign from the store alone (``report``, ``ask NAME``, ``tell``). The space,
the objective and the plugin kinds are never replaced: the results would change meaning.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .errors import ConfigError

REPLACEABLE = ("model.params.", "model.transform", "acquisition.", "oracle.params.", "initial.", "failures")
NEVER_REPLACED = ("model.kind", "acquisition.kind", "oracle.kind")


def refused_fields(stored: dict, base_dir: Path) -> list[str] | None:
    """The dotted fields of ``stored`` that this version's checks refuse ([] if it passes; None if the spec
    cannot even be read, so that nothing can be said about single fields)."""
    from .config import check_campaign, parse_spec

    try:
        problems = check_campaign(parse_spec(stored, "the stored campaign"), Path(base_dir))[0]
    except ConfigError as exc:
        problems = exc.problems
    except Exception:  # noqa: BLE001 - a stored spec this code cannot read at all
        return None
    # a check across blocks names its field at the start of its message ("acquisition.min_distance: ...")
    fields = [p.path or p.message.split(":", 1)[0] for p in problems]
    return [f for f in fields if f and " " not in f]


def _replaceable(field: str) -> bool:
    return field.startswith(REPLACEABLE) and field not in NEVER_REPLACED


def refused_since(stored: dict, base_dir: Path, diffs: list[str]) -> list[str]:
    """Those of ``diffs`` (fields where the campaign file and the stored spec differ) that a resume may take
    from the file: fields whose stored value is refused, in the replaceable blocks. A stored spec that
    passes every check gives none: the file must then match it."""
    refused = refused_fields(stored, base_dir) or []

    def covered(d: str) -> bool:
        return any(d == p or d.startswith(p + ".") or p.startswith(d + ".") for p in refused)

    return [d for d in diffs if _replaceable(d) and covered(d)]


def relaxed(stored: dict, base_dir: Path) -> tuple[dict, list[str]]:
    """``stored`` with each refused, replaceable setting removed (so it takes its default), and the fields
    removed. (stored, []) when there is none, or when a refused field lies elsewhere or inside a list."""
    refused = refused_fields(stored, base_dir)
    if not refused or not all(_replaceable(f) and "[" not in f for f in refused):
        return stored, []
    spec = copy.deepcopy(stored)
    removed = []
    for field in dict.fromkeys(refused):
        *parents, last = field.split(".")
        node: Any = spec
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            del node[last]
            removed.append(field)
    # a field with no default (a physics plugin whose module is gone) is refused again once removed, now as
    # missing: the stored value's own problem says more (fuzz round sixteen: "required field is missing")
    again = (refused_fields(spec, base_dir) or []) if removed else []
    if any(f == r or f.startswith(r + ".") for f in again for r in removed):
        return stored, []
    return (spec, removed) if removed else (stored, [])


def relaxed_note(name: str, fields: list[str]) -> str:
    return (f"campaign '{name}': the stored {', '.join(fields)} {'is' if len(fields) == 1 else 'are'} refused by this "
            f"version of looplab (stored before that check existed); {'its default is' if len(fields) == 1 else 'their defaults are'} "
            "used here. Run the campaign file to store a setup this version accepts")


__all__ = ["refused_fields", "refused_since", "relaxed", "relaxed_note"]
