"""Experiment configs: frozen dataclasses, `--set key=value` overrides with type checking."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from brainlearn.errors import ConfigError


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with `message` unless `condition` holds (use in ``__post_init__``)."""
    if not condition:
        raise ConfigError(message)


def choice(value: Any, name: str, options) -> None:
    """Raise :class:`ConfigError` unless `value` is one of `options`."""
    if value not in options:
        raise ConfigError(f"{name}={value!r} is not valid; expected one of {', '.join(map(str, options))}")


def _describe(tp) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(map(str, get_args(tp)))
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


def field_types(config_cls) -> dict[str, Any]:
    """Map each field of a config dataclass to its resolved type annotation."""
    hints = get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def apply_overrides(config, overrides: typing.Iterable[str]):
    """Return a copy of `config` with ``key=value`` strings applied, each checked against the field's type.

    The config's ``__post_init__`` validation runs again on the result.
    """
    types_ = field_types(type(config))
    changes: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in types_:
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(types_)}")
        changes[key] = _parse(text.strip(), types_[key], key)
    return dataclasses.replace(config, **changes)


def config_to_dict(config) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(config_cls, data: dict[str, Any]):
    """Rebuild a config from its JSON form (tuples come back from lists); unknown keys are an error."""
    types_ = field_types(config_cls)
    unknown = set(data) - set(types_)
    if unknown:
        raise ConfigError(f"config has unknown keys {sorted(unknown)}; valid keys: {', '.join(types_)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return config_cls(**values)
