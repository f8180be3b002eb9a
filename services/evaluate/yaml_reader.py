"""Prompt-file YAML read as `gh models eval` reads it: every scalar is the text written.

PyYAML parses and composes the node graph (with no implicit types: its resolver is emptied), and
this module decodes the nodes itself, as Go's yaml.v3 decodes into typed structs: a text field gets
the scalar's text (`yes`, `NO`, `1.10`, `2025-11-20` stay as written), a number or boolean field
reads its value from an unquoted scalar by yaml.v3's rules. Bounds, checked on the node graph
before anything is built:
- values once every alias is resolved: at most MAX_VALUES (the bound of every JSON file we read),
  counted per node with the sizes of its aliased parts, so a few-KB file of nested anchors is
  refused in time linear in the file, never expanded;
- nesting at most MAX_DEPTH levels; an alias inside the value it names is refused.
"""

from __future__ import annotations

import re

import yaml

from services.errors import BadRequest
from services.json_input import MAX_JSON_VALUES as MAX_VALUES

MAX_DEPTH = 64
# a scalar longer than this is never a number or a boolean (and never reaches the float pattern)
MAX_NUMBER_CHARS = 64
# yaml.v3's float syntax (resolve.go's yamlStyleFloat); linear: disjoint alternatives, no nesting
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_TRUE, _FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")
_NULL = ("", "~", "null", "Null", "NULL")
_SPECIAL_FLOATS = {f"{sign}.{word}": float(f"{sign}{word[:3]}") for sign in ("", "+", "-")
                   for word in ("inf", "Inf", "INF")} | {w: float("nan") for w in (".nan", ".NaN", ".NAN")}
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
# the YAML 1.1 words yaml.v3 still accepts when the field itself is a boolean
_BOOL_WORDS = {w: True for w in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")} | {
    w: False for w in ("n", "N", "no", "No", "NO", "off", "Off", "OFF")}


class Plain(str):
    """A scalar written without quotes; its value is the text as written."""

    __slots__ = ()


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML's parser and composer (libyaml when present) with no implicit types."""


# no implicit resolvers: every plain scalar is composed as text, and this module decides the rest
_Loader.yaml_implicit_resolvers = {}


def _line(node) -> int:
    return node.start_mark.line + 1


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_size(root, source: str) -> None:
    """Count the values the document holds once aliases are resolved, without resolving them.

    Post-order over the node graph, iterative: each node's size (itself plus its parts, an aliased
    part counted in full every time it is used) and depth are computed once and reused.
    """
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[object, list | None]] = [(root, None)]
    while stack:
        node, kids = stack.pop()
        key = id(node)
        if kids is not None:  # second visit: every part is sized
            on_path.discard(key)
            size = 1 + sum(sizes[id(k)] for k in kids)
            depth = 1 + max((depths[id(k)] for k in kids), default=0)
            if size > MAX_VALUES:
                raise BadRequest(f"{source} holds more than {MAX_VALUES:,} values once its aliases (*name) are "
                                 f"resolved (from line {_line(node)}); use fewer nested anchors.")
            if depth > MAX_DEPTH:
                raise BadRequest(f"{source} nests deeper than {MAX_DEPTH} levels (at line {_line(node)}); flatten it.")
            sizes[key], depths[key] = size, depth
            continue
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key], depths[key] = 1, 1
            continue
        kids = _children(node)
        on_path.add(key)
        stack.append((node, kids))
        for kid in kids:
            if id(kid) in on_path:
                raise BadRequest(f"{source} has an alias inside the value it names (line {_line(kid)}); "
                                 "a value cannot contain itself.")
            if id(kid) not in sizes:
                stack.append((kid, None))


class _Decoder:
    """Nodes to Python: maps, lists, and str (Plain when unquoted); an aliased node is built once."""

    def __init__(self, source: str):
        self.source = source
        self.built: dict[int, object] = {}

    def value(self, node):
        if isinstance(node, yaml.ScalarNode):
            # libyaml reports a plain scalar's style as '', the Python parser as None
            return node.value if node.style else Plain(node.value)
        key = id(node)
        if key not in self.built:
            self.built[key] = self._sequence(node) if isinstance(node, yaml.SequenceNode) else self._mapping(node)
        return self.built[key]

    def _sequence(self, node) -> list:
        return [self.value(n) for n in node.value]

    def _mapping(self, node) -> dict:
        out: dict = {}
        merged: list = []
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise BadRequest(f"{self.source}, line {_line(k)}: a key must be text, not a list or a map.")
            if not k.style and k.value == "<<":  # a merge key, as yaml.v3 reads it
                merged.extend(v.value if isinstance(v, yaml.SequenceNode) else [v])
                continue
            name = k.value
            if name in out:
                raise BadRequest(f"{self.source}, line {_line(k)}: the key {name!r} appears twice in one map "
                                 "(gh models eval refuses this too); keep one of them.")
            out[name] = self.value(v)
        for m in merged:
            if not isinstance(m, yaml.MappingNode):
                raise BadRequest(f"{self.source}, line {_line(m)}: a merge (<<) takes a map or a list of maps.")
            for name, value in self.value(m).items():
                out.setdefault(name, value)  # keys written in the map itself win, then earlier merges
        return out


def read(text: str, source: str = "The prompt file"):
    """The document as maps, lists and str (Plain when unquoted); None for an empty document."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it cannot be parsed"
        if "nesting depth" in problem:  # libyaml's own limit (1000 levels)
            raise BadRequest(f"{source} nests too deeply to read{where}; flatten it.") from None
        raise BadRequest(f"{source} is not valid YAML{where}: {problem}.") from None
    except RecursionError:
        raise BadRequest(f"{source} nests too deeply to read; flatten it.") from None
    if root is None:
        return None
    _check_size(root, source)
    return _Decoder(source).value(root)


# ---- typed fields, read as yaml.v3 reads them -------------------------------------------------------

def _int_text(text: str) -> int | None:
    """yaml.v3's integer forms: decimal, 0x, 0o, 0b, a leading-0 octal, '_' between digits."""
    if not text or len(text) > MAX_NUMBER_CHARS or text[0] not in "+-0123456789":
        return None
    plain = text.replace("_", "")
    sign, body = (-1, plain[1:]) if plain[:1] == "-" else (1, plain[1:] if plain[:1] == "+" else plain)
    prefixes = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
    base = prefixes.get(body[:2])
    digits = body[2:] if base else body
    if base is None:
        base = 8 if len(body) > 1 and body[0] == "0" else 10
    if not digits or any(c not in _DIGITS[base] for c in digits):
        return None
    return sign * int(digits, base)


def _float_text(text: str) -> float | None:
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if len(text) > MAX_NUMBER_CHARS or not _FLOAT.fullmatch(text.replace("_", "")):
        return None
    return float(text.replace("_", ""))


def is_blank(value) -> bool:
    """True for a missing value or an unquoted null (`key:`, `~`, `null`)."""
    return value is None or (isinstance(value, Plain) and value in _NULL)


def text(value, where: str) -> str:
    """A text field: the scalar as written (a number a program put here, as Python writes it)."""
    if is_blank(value):
        return ""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadRequest(f"{where} must be text, not a {'list' if isinstance(value, list) else 'map'}.")


def _number_of(value) -> int | float | None:
    """A number a program put here, or an unquoted integer or float; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if not isinstance(value, Plain):
        return None
    n = _int_text(value)
    return n if n is not None else _float_text(value)


def integer(value, where: str) -> int:
    """A whole-number field: an unquoted integer (or a whole float such as 100.0)."""
    n = _number_of(value)
    if n is None or (isinstance(n, float) and not n.is_integer()):
        raise BadRequest(f"{where} must be a whole number written without quotes, not {_shown(value)}.")
    return int(n)


def number(value, where: str) -> int | float:
    """A number field: an unquoted integer (kept whole, so it is written back as written) or float."""
    n = _number_of(value)
    if n is None:
        raise BadRequest(f"{where} must be a number written without quotes, not {_shown(value)}.")
    return n


def boolean(value, where: str) -> bool:
    """A true/false field: yaml.v3 takes true/false and, for a boolean field, yes/no/on/off too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Plain):
        if value in _TRUE or value in _FALSE:
            return value in _TRUE
        if value in _BOOL_WORDS:
            return _BOOL_WORDS[value]
    raise BadRequest(f"{where} must be true or false, not {_shown(value)}.")


def _shown(value) -> str:
    if isinstance(value, str):
        return repr(str(value)[:40])
    return "a list" if isinstance(value, list) else "a map" if isinstance(value, dict) else repr(value)


def _scalar_json(value: str):
    """An unquoted scalar as yaml.v3 decodes it into interface{}: a timestamp stays text."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value in _NULL:
        return None
    n = _int_text(value)
    if n is not None:
        return n
    f = _float_text(value)
    return f if f is not None else str(value)


def _convert(tree, scalar):
    """The tree with every str passed through `scalar`; a part used twice (an alias) is converted once."""
    done: dict[int, object] = {}

    def walk(v):
        if isinstance(v, str):
            return scalar(v)
        if not isinstance(v, (dict, list)):
            return v
        if id(v) not in done:
            done[id(v)] = ({k: walk(x) for k, x in v.items()} if isinstance(v, dict) else [walk(x) for x in v])
        return done[id(v)]

    return walk(tree)


def as_json_tree(tree):
    """Lists and maps typed as yaml.v3 types them (JSON schemas written as YAML maps)."""
    return _convert(tree, lambda v: _scalar_json(v) if isinstance(v, Plain) else str(v))


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """safe_dump, except that text read unquoted is written unquoted again (`1.10` stays `1.10`)."""


def _represent_plain(dumper, value):
    # tagged as the dumper's resolver reads the text, so the emitter may leave it unquoted
    return dumper.represent_scalar(dumper.resolve(yaml.ScalarNode, str(value), (True, False)), str(value))


_Dumper.add_representer(Plain, _represent_plain)


def dump(data) -> str:
    """YAML text of plain data (maps, lists, text, numbers), keys in the order given."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
