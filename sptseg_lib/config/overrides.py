"""The typed ``--set section.field=value`` parser of :mod:`sptseg_lib.config`: an assignment read as YAML-like
JSON, checked against the dataclass field's type hint, with messages that name the expected type and give an
example. Depends on nothing of the configs themselves (:mod:`sptseg_lib.config.types` applies it).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any


def _parse_assignment(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"override {text!r} is not of the form section.field=value")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _type_name(hint: Any) -> str:
    """A field's type in words, for a ``--set`` message."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return _type_name(next(a for a in args if a is not type(None))) + " or null"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return "a list of " + _type_name(args[0]).removeprefix("an ").removeprefix("a ") + "s"
        return f"a list of {len(args)} numbers"
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a text"}
    return words.get(hint, str(hint))


_EXAMPLES = {bool: "true", int: "100", float: "0.001", str: "text"}


def _example(field_: dataclasses.Field, hint: Any) -> str:
    """An example value for a ``--set`` message: the field's default, else one of its type."""
    if field_.default is not None and field_.default is not dataclasses.MISSING:
        default = field_.default
        if isinstance(default, str):
            return default
        return json.dumps(list(default) if isinstance(default, tuple) else default).replace(" ", "")
    inner = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    return _EXAMPLES.get(inner, "...")


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` as the field type ``hint`` wants (JSON lists become tuples, ints become floats), or
    ``TypeError`` when it is not of that type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        if value in args:
            return value
        raise TypeError
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        if len(value) != len(args):
            raise TypeError
        return tuple(_coerce(a, v) for a, v in zip(args, value))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError
    return value
