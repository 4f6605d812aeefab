"""Dataclass configs from YAML recipes plus `--set a.b=c` overrides.

Every stage owns a dataclass; `load_config(Cls, recipe, overrides)` reads the YAML, applies the dotted
overrides (values parsed as YAML scalars, so `--set sampling.n=4` is an int), and builds the dataclass
tree. An unknown key fails with the list of valid keys at that level; a value of the wrong type fails with
the key's dotted path. Fields typed `dict` pass through untouched (e.g. a `grpo:` section that goes
straight into `trl.GRPOConfig(**cfg.grpo)`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from j1 import J1Error

T = TypeVar("T")


class ConfigError(J1Error):
    pass


class Loader(yaml.SafeLoader):
    """YAML as recipes are written: `1e-5` is a float (PyYAML follows YAML 1.1, where it is a string
    unless written `1.0e-5`, and a learning rate would reach the optimizer as text)."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Loader)  # noqa: S506  (a SafeLoader subclass)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"recipe not found: {path}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 ({e})") from e
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {getattr(e, 'problem', e)}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of keys, got {type(data).__name__}")
    return unshare(data)


def unshare(node: Any) -> Any:
    """A copy in which no section is shared: YAML anchors (`&a` ... `*a`) load as one object, so an
    override of one aliased section would otherwise change every section that reuses it."""
    if isinstance(node, dict):
        return {k: unshare(v) for k, v in node.items()}
    if isinstance(node, list):
        return [unshare(v) for v in node]
    return node


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `a.b.c=value` assignment in place; the value is parsed as YAML (`4`, `true`, `[1, 2]`)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {assignment!r} is not of the form key.sub=value")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {assignment!r}: {part!r} is not a section")
        node = child
    try:
        node[parts[-1]] = parse_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        node[parts[-1]] = raw


def load_config(cls: type[T], recipe: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Build `cls` from a YAML recipe (optional) and dotted overrides."""
    data = read_yaml(recipe) if recipe else {}
    for assignment in overrides:
        apply_override(data, assignment)
    source = str(recipe) if recipe else "config"
    return build(cls, data, source=source)


def build(cls: type[T], data: Mapping[str, Any], *, source: str = "config", prefix: str = "") -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {prefix}{unknown[0]!s}; valid keys"
            f"{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        default = _default(fields[name])
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
            value = _merge(dataclasses.asdict(default), value)  # a partial section keeps the field's defaults
        kwargs[name] = _coerce(hints[name], value, source, prefix + name)
    return cls(**kwargs)


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(out.get(key), dict) and isinstance(value, Mapping)
            else value
        )
    return out


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, source, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[-1])
    if dataclasses.is_dataclass(tp):
        return build(tp, value or {}, source=source, prefix=key + ".")
    if origin in (list, Sequence, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            value = [value] if isinstance(value, str | int | float) else value
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        (inner,) = typing.get_args(tp)[:1] or (Any,)
        return [_coerce(inner, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        inner = (typing.get_args(tp) or (Any, Any))[-1]
        if dataclasses.is_dataclass(inner):  # a named set of sections: each value built and checked
            return {k: _coerce(inner, v, source, f"{key}.{k}") for k, v in value.items()}
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, float, bool):
        if tp is int and isinstance(value, bool) or not isinstance(value, tp):
            raise ConfigError(f"{source}: {key} must be {tp.__name__}, got {value!r}")
        return value
    if typing.get_origin(tp) is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(map(str, allowed))}, got {value!r}")
        return value
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_config(cfg: Any, out_dir: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config beside an output, so the run can be repeated with `--recipe` on it."""
    path = Path(out_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
    return path
