"""Experiment configs: frozen dataclasses whose fields declare their bounds once; `--set a.b=value`.

A config subclasses :class:`Config` and declares each constrained field with :func:`param`, in the manner
of scikit-learn's parameter constraints::

    @dataclass(frozen=True)
    class MyConfig(Config):
        epochs: int = param(10, ge=1, help="passes over the training set")
        lr: float = param(0.5, gt=0)
        rule: Literal["bp", "fa"] = "bp"
        model: ModelConfig = ModelConfig()      # a nested config: --set model.hidden=200

:meth:`Config.__post_init__` checks every field against its annotation and bounds, and rejects NaN and
infinite floats unless the field says ``finite=False``; the error names the field, the value and what was
expected. Cross-field rules go in a subclass's ``__post_init__`` (calling ``super().__post_init__()``)
with :func:`require`. ``brainlearn list NAME`` prints every field's type, default and valid range.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import types
import typing
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from brainlearn.errors import ConfigError


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with `message` unless `condition` holds (use in ``__post_init__``)."""
    if not condition:
        raise ConfigError(message)


def choice(value: Any, name: str, options) -> None:
    """Raise :class:`ConfigError` unless `value` is one of `options`."""
    if value not in options:
        raise ConfigError(f"{name}={value!r} is not valid; expected one of {', '.join(map(str, options))}")


# ------------------------------------------------------------------------------------ declared bounds

@dataclasses.dataclass(frozen=True)
class Bounds:
    """Valid range of a number (or of every number in a tuple): ``ge <= x``, ``gt < x``, ``x <= le``,
    ``x < lt``; `finite` rejects NaN and infinities; `nonempty` requires a tuple to have an item."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    finite: bool = True
    nonempty: bool = False

    def describe(self) -> str:
        lower = f">= {self.ge:g}" if self.ge is not None else f"> {self.gt:g}" if self.gt is not None else ""
        upper = f"<= {self.le:g}" if self.le is not None else f"< {self.lt:g}" if self.lt is not None else ""
        if lower and upper:
            left = "[" if self.ge is not None else "("
            right = "]" if self.le is not None else ")"
            lo = self.ge if self.ge is not None else self.gt
            hi = self.le if self.le is not None else self.lt
            return f"in {left}{lo:g}, {hi:g}{right}"
        return lower or upper

    def violation(self, x: float) -> str | None:
        if isinstance(x, float) and self.finite and not math.isfinite(x):
            return "a finite number"
        if math.isnan(x):
            return None
        ok = ((self.ge is None or x >= self.ge) and (self.gt is None or x > self.gt)
              and (self.le is None or x <= self.le) and (self.lt is None or x < self.lt))
        return None if ok else self.describe()


def param(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None, finite: bool = True, nonempty: bool = False,
          help: str = ""):
    """A config field with its valid range declared once (see :class:`Bounds`) and a one-line help."""
    bounds = Bounds(ge, gt, le, lt, finite, nonempty)
    return dataclasses.field(default=default, metadata={"bounds": bounds, "help": help})


def _bounds(f: dataclasses.Field) -> Bounds:
    return f.metadata.get("bounds", Bounds())


def _is_config(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _check_value(value: Any, tp, bounds: Bounds, key: str) -> None:
    """Raise ConfigError unless `value` fits annotation `tp` and `bounds`."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check_value(value, arg, bounds, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}={value!r}: expected {_describe(tp)}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{key}={value!r} is not valid; expected one of {', '.join(map(str, get_args(tp)))}")
        return
    if origin is tuple:
        if not isinstance(value, tuple):
            raise ConfigError(f"{key}={value!r}: expected a tuple ({_describe(tp)})")
        if bounds.nonempty and not value:
            raise ConfigError(f"{key} must not be empty")
        args = get_args(tp)
        items = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(items) != len(value):
            raise ConfigError(f"{key}={value!r}: expected {len(items)} items")
        for item, item_tp in zip(value, items):
            _check_value(item, item_tp, bounds, key)
        return
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r}: expected a boolean")
        return
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
                tp is int and not isinstance(value, numbers.Integral)):
            raise ConfigError(f"{key}={value!r}: expected {tp.__name__}")
        wrong = bounds.violation(float(value) if tp is float else value)
        if wrong:
            raise ConfigError(f"{key} must be {wrong}, got {value!r}")
        return
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{key}={value!r}: expected a string")
    if _is_config(tp) and not isinstance(value, tp):
        raise ConfigError(f"{key}: expected a {tp.__name__}, got {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every config (an experiment's, a model's): validates each field against its annotation and
    bounds.

    `renamed` maps keys a config no longer has to their new (possibly dotted) names: ``--set`` with an old
    key is refused with a message naming the new one, and a config.json written with the old keys (a run
    being resumed) is read into the new ones.
    """

    renamed: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        for name, (f, tp) in _fields(type(self)).items():
            _check_value(getattr(self, name), tp, _bounds(f), name)


def _fields(config_cls) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = get_type_hints(config_cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(config_cls)}


def field_types(config_cls) -> dict[str, Any]:
    """Map each field of a config dataclass to its resolved type annotation."""
    return {name: tp for name, (_, tp) in _fields(config_cls).items()}


def field_type(config_cls, key: str) -> Any:
    """The type of the (possibly dotted) field `key` of `config_cls`; an unknown or renamed key raises
    ConfigError as ``--set`` would."""
    tp: Any = config_cls
    for depth, part in enumerate(key.split(".")):
        types_ = field_types(tp) if _is_config(tp) else {}
        prefix = ".".join(key.split(".")[:depth])
        if part not in types_:
            moved = _renamed(tp).get(part) if _is_config(tp) else None
            where = f"{prefix}." if prefix else ""
            if moved:
                raise ConfigError(f"config key {where + part!r} was renamed: use {where + moved!r}")
            raise ConfigError(f"unknown config key {key!r}"
                              + (f"; valid keys: {', '.join(where + k for k in types_)}" if types_ else ""))
        tp = types_[part]
    if _is_config(tp):
        raise ConfigError(f"{key} is a group of settings; give one of its fields, e.g. "
                          f"{key}.{next(iter(field_types(tp)))}")
    return tp


# ------------------------------------------------------------------------------------ --set overrides

def _describe(tp) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(str, get_args(tp)))
    if origin in (Union, types.UnionType):
        return " or ".join("none" if a is type(None) else _describe(a) for a in get_args(tp))
    if origin is tuple:
        return f"comma-separated {_describe(get_args(tp)[0])}s"
    return getattr(tp, "__name__", str(tp))


def _parse(text: str, tp, key: str):
    """Parse `text` into type `tp` or raise ConfigError naming key, value and expected type."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _parse(text, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}={text!r}: expected {' or '.join(_describe(a) for a in args)}")
    if origin is Literal:
        for option in get_args(tp):
            if str(option) == text:
                return option
        raise ConfigError(f"{key}={text!r} is not valid; expected one of {', '.join(map(str, get_args(tp)))}")
    if origin is tuple:
        (item, *rest) = get_args(tp)
        parts = [p for p in text.replace(" ", "").split(",") if p]
        return tuple(_parse(p, item, key) for p in parts)
    if tp is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}={text!r}: expected a boolean (true/false)")
    if tp in (int, float):
        try:
            return tp(text) if tp is float else int(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: expected {tp.__name__}") from None
    if tp is str:
        return text
    raise ConfigError(f"{key}: fields of type {tp} cannot be set from the command line")


def _replace(config, changes: dict[str, Any]):
    try:
        return dataclasses.replace(config, **changes)
    except TypeError as e:  # a field with init=False, or similar: say which
        raise ConfigError(f"cannot set {', '.join(changes)}: {e}") from None


def apply_overrides(config, overrides: typing.Iterable[str], prefix: str = ""):
    """Return a copy of `config` with ``key=value`` strings applied, each checked against the field's type.

    A dotted key (``part.field=value``) reaches a field of a nested config. The configs' validation runs
    again on the result.
    """
    types_ = field_types(type(config))
    changes: dict[str, Any] = {}
    nested: dict[str, list[str]] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        head, _, rest = key.partition(".")
        if head not in types_ and head in _renamed(type(config)):
            new = _renamed(type(config))[head] + key[len(head):]
            raise ConfigError(f"config key {prefix + key!r} was renamed: use {prefix + new!r}")
        if head not in types_:
            raise ConfigError(f"unknown config key {prefix + head!r}; valid keys: "
                              f"{', '.join(prefix + k for k in types_)}")
        if _is_config(types_[head]):
            if not rest:
                raise ConfigError(f"{prefix + head} is a group of settings; set one of its fields, e.g. "
                                  f"{prefix + head}.{next(iter(field_types(types_[head])))}=...")
            nested.setdefault(head, []).append(f"{rest}={text}")
        elif rest:
            raise ConfigError(f"{prefix + head} has no fields; expected {prefix + head}=value")
        else:
            changes[head] = _parse(text.strip(), types_[head], prefix + head)
    for head, items in nested.items():
        changes[head] = apply_overrides(getattr(config, head), items, prefix=f"{prefix}{head}.")
    return _replace(config, changes)


# ------------------------------------------------------------------------------------ JSON and help

def config_to_dict(config) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _from_json(value: Any, tp, key: str):
    if _is_config(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of its fields, got {type(value).__name__}")
        return config_from_dict(tp, value, prefix=f"{key}.")
    if isinstance(value, list):
        return tuple(value)
    return value


def config_from_dict(config_cls, data: dict[str, Any], prefix: str = ""):
    """Rebuild a config from its JSON form (tuples come back from lists); unknown keys are an error."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of its fields, got {type(data).__name__}")
    types_ = field_types(config_cls)
    data = _move_renamed(config_cls, data)
    unknown = set(data) - set(types_)
    if unknown:
        raise ConfigError(f"config has unknown keys {sorted(prefix + k for k in unknown)}; "
                          f"valid keys: {', '.join(prefix + k for k in types_)}")
    values = {k: _from_json(v, types_[k], prefix + k) for k, v in data.items()}
    try:
        return config_cls(**values)
    except TypeError as e:
        raise ConfigError(f"config does not fit {config_cls.__name__}: {e}") from None


def _renamed(config_cls) -> dict[str, str]:
    return getattr(config_cls, "renamed", {})


def _move_renamed(config_cls, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every key of ``config_cls.renamed`` moved to its new (dotted) place."""
    moves = {old: new for old, new in _renamed(config_cls).items() if old in data}
    if not moves:
        return data
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items() if k not in moves}
    for old, new in moves.items():
        *path, leaf = new.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {old!r} moved to {new!r}, but {part!r} is not a group of settings")
        value = data[old]
        if get_origin(field_type(config_cls, new)) is tuple and not isinstance(value, list | tuple):
            value = [value]  # an old scalar field that became a tuple (one hidden width -> widths)
        node[leaf] = value
    return out


def describe_fields(config, prefix: str = "") -> list[dict[str, str]]:
    """One row per settable field (nested configs flattened to dotted names): name, type, default,
    valid range and help, for ``brainlearn list NAME``."""
    rows = []
    for name, (f, tp) in _fields(type(config)).items():
        value = getattr(config, name)
        if _is_config(tp):
            rows += describe_fields(value, prefix=f"{prefix}{name}.")
            continue
        bounds = _bounds(f)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        rows.append({"name": prefix + name, "type": _describe(tp), "default": str(shown),
                     "range": bounds.describe().removeprefix("in ") + (" (non-empty)" if bounds.nonempty else ""),
                     "help": f.metadata.get("help", "")})
    return rows
