"""`--set key.path=value` on the command line: one config field changed without editing the YAML.

The path is checked against the pydantic models before anything runs (an unknown key names the keys
that exist there); the value is read as YAML (`2`, `0.5`, `true`, `[a, b]`, `{r: 8}`) and then typed
and validated by the model like a value written in the file. List items are addressed by index
(`weak.0.max_tokens=256`); below a free-form dict field (`engine_kwargs`, a scorer's `config`) any
key goes.
"""
from __future__ import annotations

import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel


class OverrideError(ValueError):
    """A --set that is malformed or names a key the config does not have."""


def _inner(annotation) -> tuple[type[BaseModel] | None, bool, bool]:
    """(the model inside `annotation`, whether it is a list, whether it is a free-form dict)."""
    args = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
    for arg in args:
        origin = typing.get_origin(arg)
        if origin is list:
            (item,) = typing.get_args(arg) or (Any,)
            model, _, _ = _inner(item)
            return model, True, False
        if origin is dict or arg is dict:
            return None, False, True
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, False, False
    return None, False, False


def check_path(model: type[BaseModel], keys: list[str], setting: str) -> None:
    """Raise OverrideError unless `keys` names a field (or a free-form entry) of `model`."""
    current: type[BaseModel] | None = model
    i = 0
    while i < len(keys):
        key, where = keys[i], ".".join(keys[:i]) or "the config"
        if current is None:
            raise OverrideError(f"--set {setting}: {where} is a single value, it has no key {key!r}")
        if key not in current.model_fields:
            raise OverrideError(f"--set {setting}: unknown key {key!r} in {where}; it has: "
                                f"{', '.join(sorted(current.model_fields))}")
        current, is_list, free = _inner(current.model_fields[key].annotation)
        if free:
            return
        if is_list and i + 1 < len(keys):
            if not keys[i + 1].isdigit():
                raise OverrideError(f"--set {setting}: {'.'.join(keys[:i + 1])} is a list; index it, e.g. "
                                    f"{'.'.join(keys[:i + 1])}.0")
            i += 1
        i += 1


def apply_sets(raw: dict, sets: list[str], model: type[BaseModel], loader: type = yaml.SafeLoader) -> dict:
    """Apply each `key.path=value` to the raw (YAML-loaded) config of `model` in place; returns it.
    The model and the YAML loader are passed in (config.py passes RunConfig and the loader config
    files are read with, so `--set lr=5e-5` reads as the file's `lr: 5e-5` does) so that this module
    imports nothing of ours."""
    for setting in sets:
        dotted, eq, text = setting.partition("=")
        keys = dotted.strip().split(".")
        if not eq or not all(keys):
            raise OverrideError(f"--set {setting!r}: expected key.path=value")
        check_path(model, keys, setting)
        try:
            value = yaml.load(text, Loader=loader)
        except yaml.YAMLError as err:
            raise OverrideError(f"--set {setting}: the value is not valid YAML ({err})") from None
        node: Any = raw
        for depth, key in enumerate(keys[:-1]):
            nxt = keys[depth + 1]
            if isinstance(node, list):
                if int(key) >= len(node):
                    raise OverrideError(f"--set {setting}: {'.'.join(keys[:depth])} has {len(node)} item(s)")
                node = node[int(key)]
                continue
            if node.get(key) is None:
                node[key] = [] if nxt.isdigit() else {}
            node = node[key]
        last = keys[-1]
        if isinstance(node, list):
            if int(last) >= len(node):
                raise OverrideError(f"--set {setting}: {'.'.join(keys[:-1])} has {len(node)} item(s)")
            node[int(last)] = value
        else:
            node[last] = value
    return raw
