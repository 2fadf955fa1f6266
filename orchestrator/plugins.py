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
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
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
        return _import_path(self.target)

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


def _import_path(target: str) -> type:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginNotFound(f"'{target}' is not an import path of the form package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginNotFound(f"cannot import module '{module_name}' ({exc})") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise PluginNotFound(f"module '{module_name}' has no attribute '{attr}'") from None
    return obj


def resolve(role: str, kind: str) -> type:
    """The class for ``kind`` (an installed name or an import path)."""
    if ":" in kind:
        return _import_path(kind)
    plugins = installed(role)
    if kind in plugins:
        return plugins[kind].load()
    names = sorted(plugins)
    close = difflib.get_close_matches(kind, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise PluginNotFound(
        f"unknown {role} kind '{kind}'; {hint}installed: {', '.join(names) or '(none)'}"
        " (or give an import path package.module:ClassName)"
    )


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
