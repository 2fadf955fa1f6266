"""YAML as looplab reads it: plain data, YAML 1.2 scalars, and bounded work.

``load(text)`` is ``yaml.safe_load`` with five differences, each closing a way a
campaign file could mean something else than it says, or cost minutes:

- scalars follow YAML 1.2 (core schema): only ``true``/``false`` are booleans, so
  ``seed: yes`` or a choice ``NO`` stay the strings they look like (YAML 1.1 made
  them 1 and False); ``010`` is ten, not eight; ``1e3`` is a number; ``1:30``,
  ``2024-01-01`` and ``1_0`` are strings (YAML 1.1 read ``1_0`` as 10, and the
  numbers of a campaign refuse such text, naming the field);
- a key written twice in one mapping is an error naming the key and both lines
  (YAML 1.1 loaders keep the last one silently);
- nesting deeper than ``MAX_DEPTH`` levels is an error (not a RecursionError);
- aliases (``*name``) may expand to at most ``MAX_ALIAS_NODES`` values in all, and
  an alias may not point into its own anchor ("billion laughs": 9 lines that
  expand to a billion values);
- the text may be at most ``MAX_BYTES`` long (checked by the caller that reads it).

Errors are :class:`StrictYAMLError` (a ``yaml.MarkedYAMLError`` with the line);
syntax errors stay PyYAML's own.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from oracles.csvfile import underflows

MAX_BYTES = 256_000  # a campaign file is a few kB (and this pure-Python loader reads ~0.5 MB/s)
MAX_DEPTH = 50  # levels of nested lists and mappings (a campaign uses about 5)
MAX_ALIAS_NODES = 10_000  # values that aliases may add in all, once expanded

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")  # no '_' groups: 1_0 is text in YAML 1.2
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_NUMBER = re.compile(f"^(?:{_FLOAT.pattern[1:-1]}|{_INT.pattern[1:-1]})$")  # what !!float may tag
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TAG = "tag:yaml.org,2002:"


class StrictYAMLError(yaml.MarkedYAMLError):
    """Well-formed YAML that looplab refuses (a duplicate key, too deep, too many aliases)."""

    def __init__(self, message: str, mark: Any):
        super().__init__(problem=message, problem_mark=mark)


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars, no duplicate keys, and limits on depth and alias expansion."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        self._measure: dict[int, tuple[int, int]] = {}  # id(node) -> (values once expanded, depth)

    # -- composing: depth and aliases -------------------------------------------------------

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self.anchors:
            target = self.anchors[event.anchor]
            size, depth = self._measure.get(id(target), (0, 0))
            if not size:
                raise StrictYAMLError(f"alias *{event.anchor} points into its own anchor &{event.anchor} "
                                      "(a structure that contains itself); repeat the values instead",
                                      event.start_mark)
            self._alias_nodes += size
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise StrictYAMLError(f"aliases expand to more than {MAX_ALIAS_NODES:,} values (at *{event.anchor}); "
                                      "a config file needs few of them: write the values out", event.start_mark)
            if self._depth + depth > MAX_DEPTH:
                raise StrictYAMLError(f"alias *{event.anchor} nests values more than {MAX_DEPTH} levels deep",
                                      event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise StrictYAMLError(f"lists and mappings nested more than {MAX_DEPTH} levels deep; "
                                  "a config file needs about 5", event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, ScalarNode):
            self._measure[id(node)] = (1, 0)
        else:
            children = node.value if isinstance(node, SequenceNode) else [n for kv in node.value for n in kv]
            measures = [self._measure[id(c)] for c in children]
            self._measure[id(node)] = (1 + sum(m[0] for m in measures), 1 + max((m[1] for m in measures), default=0))
        return node

    # -- constructing: duplicate keys and YAML 1.2 integers ----------------------------------

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        if isinstance(node, MappingNode):
            merges = [k for k, _ in node.value if k.tag == _TAG + "merge"]
            if len(merges) > 1:  # YAML 1.1 loaders keep the last one silently
                raise StrictYAMLError(f"the merge key << appears twice in one mapping (first at line "
                                      f"{merges[0].start_mark.line + 1}); merge several with <<: [*a, *b]",
                                      merges[1].start_mark)
            self._no_repeated_key(node)
        return super().construct_mapping(node, deep=deep)

    def flatten_mapping(self, node: Any) -> None:
        """The merge key as YAML defines it: the mapping's own keys win, then the merged mappings in the order
        written (``<<: [*a, *b]``: a key of both is a's). PyYAML 6 told keys apart by the identity of their text,
        so a key of both was a's when Python shared the string ('b') and b's when it did not ('batch_size'); keys
        are told apart here as they load (1, 1.0 and 0x1 are one key, 1 and '1' two). A key written twice inside
        one merged mapping is refused, as in any mapping (it was taken silently)."""
        merged: list = []
        index = 0
        while index < len(node.value):
            key_node, value_node = node.value[index]
            if key_node.tag != _TAG + "merge":
                if key_node.tag == _TAG + "value":  # as PyYAML: '=' as a key is the text '='
                    key_node.tag = _TAG + "str"
                index += 1
                continue
            del node.value[index]
            subnodes = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for sub in subnodes:
                if not isinstance(sub, MappingNode):
                    raise ConstructorError("while constructing a mapping", node.start_mark,
                                           f"expected a mapping or list of mappings for merging, but found {sub.id}",
                                           sub.start_mark)
                self.flatten_mapping(sub)
                self._no_repeated_key(sub)
                merged.extend(sub.value)
        if not merged:
            return
        taken = {self._ident(k) for k, _ in node.value} - {None}
        kept = []
        for pair in merged:  # earlier mappings first: a key they gave, or the mapping's own, wins
            ident = self._ident(pair[0])
            if ident is not None:
                if ident in taken:
                    continue
                taken.add(ident)
            kept.append(pair)
        node.value = kept + node.value

    def _ident(self, key_node: Any) -> Any:
        """A scalar key as it will be loaded (1, 1.0 and 0x1 are one key, 1 and '1' two); None otherwise."""
        if not isinstance(key_node, ScalarNode):
            return None
        key = self.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def _no_repeated_key(self, node: Any) -> None:
        """A key written twice in one mapping (a merged one included) is an error naming it and both lines (YAML
        1.1 loaders keep the last one silently); keys as they load, an unhashable one left to the base class."""
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == _TAG + "merge":
                continue
            ident = self._ident(key_node)
            if ident is None:
                continue
            first = seen.setdefault(ident, key_node)
            if first is not key_node:
                raise StrictYAMLError(f"key {ident!r} appears twice in one mapping (first at line "
                                      f"{first.start_mark.line + 1}); keep one of them", key_node.start_mark)

    def construct_scalar(self, node: Any) -> Any:
        value = super().construct_scalar(node)
        if isinstance(value, str) and _SURROGATE.search(value):  # a "\ud800" escape: no file or page can hold it
            bad = _SURROGATE.search(value).group()
            raise StrictYAMLError(f"the text '{_short(value.encode('unicode_escape').decode())}' holds \\u{ord(bad):04x}, "
                                  "half of a UTF-16 pair, which is not a character; remove the escape or write the "
                                  "character itself", node.start_mark)
        if isinstance(value, str) and "\x00" in value:  # a "\0" escape: no path, name or level holds one
            raise StrictYAMLError(f"the text '{_short(value.encode('unicode_escape').decode())}' holds a NUL "
                                  "character (\\0), which no file name or value may hold; remove it", node.start_mark)
        return value

    def _explicit(self, node: Any, kind: str, rule: Any, what: str) -> str:
        """The text of a scalar tagged ``!!kind``, refused unless it is what YAML 1.2 reads as that kind (an
        explicit tag would otherwise bring back YAML 1.1's readings: !!bool yes, !!float 1:30 = 90)."""
        text = super().construct_scalar(node)
        if not rule.match(text):
            raise StrictYAMLError(f"!!{kind} {_short(text)!r} is not {what}; write the value without the tag",
                                  node.start_mark)
        return text

    def construct_yaml_bool(self, node: Any) -> bool:
        return self._explicit(node, "bool", _BOOL, "true or false").lower() == "true"

    def construct_yaml_float(self, node: Any) -> float:
        text = self._explicit(node, "float", _NUMBER, "a number (such as 2.5, 1e3 or .inf)")
        if _INT.match(text):
            return float(self.construct_yaml_int(node))
        value = super().construct_yaml_float(node)
        if underflows(text, value):  # 1e-400: not 0
            raise StrictYAMLError(f"{_short(text)} is too small for a number (below 5e-324 it would be read "
                                  "as 0); write 0 if 0 is meant, or the value in other units", node.start_mark)
        return value

    def construct_yaml_null(self, node: Any) -> None:
        self._explicit(node, "null", _NULL, "null (~, null or nothing)")
        return None

    def construct_yaml_int(self, node: Any) -> int:
        text = self._explicit(node, "int", _INT, "an integer (such as 12)")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        try:
            if digits.startswith("0o"):
                return sign * int(digits[2:], 8)
            if digits.startswith("0x"):
                return sign * int(digits[2:], 16)
            return sign * int(digits, 10)
        except ValueError:  # more digits than Python converts (4300)
            raise ConstructorError(None, None, f"the integer {_short(text)} has too many digits",
                                   node.start_mark) from None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# YAML 1.2 core schema: replace 1.1's bool, int and float rules; drop its timestamp and '=' rules
Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in rules if tag not in {_TAG + t for t in ("bool", "int", "float", "timestamp",
                                                                             "value")}]
    for first, rules in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(_TAG + "bool", _BOOL, list("tTfF"))
Loader.add_implicit_resolver(_TAG + "int", _INT, list("-+0123456789"))  # before float: '10' is an int
Loader.add_implicit_resolver(_TAG + "float", _FLOAT, list("-+0123456789."))
for _kind in ("bool", "int", "float", "null"):
    Loader.add_constructor(_TAG + _kind, getattr(Loader, f"construct_yaml_{_kind}"))


def _refuse_tag(loader: Loader, node: Any) -> Any:
    raise StrictYAMLError(f"the tag {node.tag.replace(_TAG, '!!')} is not read in a config file (binary data, "
                          "sets, pairs and ordered maps have no place there); write plain text, numbers, lists "
                          "and mappings", node.start_mark)


for _tag in ("binary", "set", "omap", "pairs", "timestamp"):  # explicit tags of YAML 1.1 the core schema lacks
    Loader.add_constructor(_TAG + _tag, _refuse_tag)


def load(text: str) -> Any:
    """Parse one YAML document (see the module docstring); errors are ``yaml.YAMLError``."""
    loader = Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_BOUNDS = {"less_than_equal": ("less than or equal to", "le"), "less_than": ("less than", "lt"),
           "greater_than_equal": ("greater than or equal to", "ge"), "greater_than": ("greater than", "gt")}


def bound_message(error_type: str, ctx: dict | None) -> str | None:
    """pydantic's "input should be less than or equal to N" with N written as a number: pydantic writes a float
    bound out in full (1e100 as 101 digits). None for an error that is not about a bound."""
    if error_type not in _BOUNDS:
        return None
    word, key = _BOUNDS[error_type]
    value = (ctx or {}).get(key)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"input should be {word} {text}"
