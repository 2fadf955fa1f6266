"""Finding plugins by name.

Oracles, models and acquisitions are found through the entry-point groups
``looplab.oracles``, ``looplab.models`` and ``looplab.acquisitions`` (the
built-ins register themselves the same way, in pyproject.toml), or by an
import path ``package.module:ClassName`` written as the ``kind:`` in YAML.

A plugin class declares a nested pydantic model ``Config`` that validates its
``params:`` block. It is built with ``cls.from_config(config, context)`` when
it defines that classmethod, otherwise with ``cls(**config)``.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import LooplabError

GROUPS = {
    "oracle": "looplab.oracles",
    "model": "looplab.models",
    "acquisition": "looplab.acquisitions",
    "physics": "looplab.physics",  # laws for the pinn and physics-gp models (models/physics.py)
}


class EmptyConfig(BaseModel):
    """Params of a plugin that takes none."""

    model_config = ConfigDict(extra="forbid")


class PluginNotFound(LooplabError):
    """No plugin of that kind is installed; the message lists close matches."""


@dataclass(frozen=True)
class PluginInfo:
    role: str  # oracle | model | acquisition | physics
    kind: str
    target: str  # "module:attr"
    source: str  # distribution that registered it, or "import path"

    def load(self) -> type:
        return _import_path(self.target, installed=True)

    def description(self) -> str:
        try:
            doc = (self.load().__doc__ or "").strip()
        except Exception as exc:  # a broken plugin must not break `looplab plugins`
            return f"(cannot import: {exc})"
        return doc.splitlines()[0] if doc else ""


@lru_cache(maxsize=None)
def installed(role: str) -> dict[str, PluginInfo]:
    """Every plugin of a role registered through entry points, by kind."""
    group = GROUPS[role]
    found: dict[str, PluginInfo] = {}
    for ep in entry_points(group=group):
        dist = getattr(ep, "dist", None)
        source = dist.name if dist is not None else "unknown"
        found[ep.name] = PluginInfo(role, ep.name, ep.value, source)
    return found


# who refuses import paths in this process (a daemon with --plugins installed-only), or None
_refused_by: str | None = None


def refuse_import_paths(by: str | None) -> None:
    """From now on every import path that is not an installed plugin's is refused before anything is imported,
    naming ``by``; None allows them again. The daemon's --plugins installed-only checked only the top-level
    kinds, so a physics plugin named inside a model's params was imported from the watched folder (fuzz round
    seventeen)."""
    global _refused_by
    _refused_by = by


def _import_path(target: str, *, installed: bool = False) -> type:
    """The object ``package.module:attr`` names (``installed``: an installed plugin's entry point)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginNotFound(f"'{target}' is not an import path of the form package.module:ClassName")
    if _refused_by is not None and not installed:
        raise PluginNotFound(f"'{target}' is an import path, which {_refused_by} refuses; install the plugin as a "
                             "package and use its name")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginNotFound(f"cannot import module '{module_name}' ({exc})") from None
    except SyntaxError as exc:  # the plugin's file is not valid Python
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else f"line {exc.lineno}"
        raise PluginNotFound(f"cannot import module '{module_name}': {type(exc).__name__} in {where}: "
                             f"{exc.msg}") from None
    except (Exception, SystemExit) as exc:  # its code raised while being imported (or called sys.exit)
        text = str(exc).strip().splitlines()
        detail = f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
        raise PluginNotFound(f"cannot import module '{module_name}': importing it raised {detail}") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise PluginNotFound(f"module '{module_name}' has no attribute '{attr}'") from None
    return obj


def on_import_path(folder: str | Path) -> None:
    """Let ``package.module:Class`` kinds name modules in ``folder`` (a campaign file's folder): it is added
    at the END of sys.path, so an installed package of the same name still wins. Worker processes started
    with spawn inherit sys.path."""
    folder = os.path.realpath(folder)
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()


def resolve(role: str, kind: str, *, search_dir: str | Path | None = None) -> type:
    """The class for ``kind`` (an installed name or an import path); PluginNotFound when there is none, or
    when what it names is not a class that can play ``role`` (see :func:`role_problem`). An import path
    may name a module in ``search_dir`` (the campaign file's folder) without PYTHONPATH; so may the import paths
    inside the plugin's params (a physics plugin's), whatever the kind: the folder is added either way."""
    plugins = installed(role)
    if search_dir is not None:
        on_import_path(search_dir)
    if ":" in kind:
        cls = _import_path(kind)
    elif kind in plugins:
        cls = plugins[kind].load()
    else:
        cls = None
    if cls is not None:
        problem = role_problem(role, cls)
        if problem:
            raise PluginNotFound(f"'{kind}' {problem}")
        return cls
    names = sorted(plugins)
    same_but_case = [n for n in names if n.lower() == kind.lower()]
    close = same_but_case or difflib.get_close_matches(kind, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise PluginNotFound(
        f"unknown {role} kind '{kind}'; {hint}installed: {', '.join(names) or '(none)'}"
        " (or give an import path package.module:ClassName)"
    )


# what the engine calls on each role's instances (an oracle either evaluates one experiment at a time,
# like SyncOracle, or runs its own: submit, poll and cancel)
_ROLE_METHODS = {
    "model": (("fit", "predict"),),
    "acquisition": (("__call__",),),
    "oracle": (("evaluate",), ("evaluate_experiment",), ("submit", "poll", "cancel")),
}
_ROLE_WORDS = {
    "model": "a model needs the methods fit(X, y) and predict(X)",
    "acquisition": "an acquisition is a class whose instances are called as acq(mean, variance, best=...)",
    "oracle": "an oracle needs evaluate(params), or submit, poll and cancel",
}


def role_problem(role: str, obj: Any) -> str | None:
    """Why ``obj`` cannot be a plugin of ``role`` (None if it can): not a class, or lacks the role's methods.

    Checked when a campaign is validated, so `looplab validate` refuses what `run` could not use.
    """
    if not isinstance(obj, type):
        what = "a function" if callable(obj) else f"a {type(obj).__name__} value"
        return f"is {what}, not a class; give a {role} class (package.module:ClassName)"

    def defines(name: str) -> bool:  # on the class or a base other than object (every class is callable)
        return any(name in vars(k) for k in obj.__mro__[:-1]) if name == "__call__" else callable(
            getattr(obj, name, None))

    if any(all(defines(m) for m in methods) for methods in _ROLE_METHODS[role]):
        return None
    article = "an" if role[0] in "aeiou" else "a"
    return f"names the class {obj.__qualname__}, which is not {article} {role}: {_ROLE_WORDS[role]}"


def config_model(cls: type) -> type[BaseModel]:
    """The pydantic model that validates a plugin's params (EmptyConfig if none)."""
    model = getattr(cls, "Config", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model
    return EmptyConfig


def build(cls: type, config: BaseModel, context: Any = None) -> Any:
    """Instantiate a plugin from its validated config."""
    factory = getattr(cls, "from_config", None)
    if callable(factory):
        return factory(config, context)
    return cls(**dict(config))


def all_installed() -> list[PluginInfo]:
    return [info for role in GROUPS for info in installed(role).values()]
