"""Loading a config: YAML (strict: a duplicate key, an alias bomb or a non-mapping is an error),
`--set` overrides, validation. Every problem is one ConfigError line naming the file and field."""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from w2s_ray.config.run_config import RunConfig


class ConfigError(ValueError):
    """A config file that does not parse or validate; the message names the file and field."""


MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_NODES = 100_000  # a real config has a few hundred; an alias bomb has billions


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# PyYAML follows YAML 1.1, where `1e-4` (no dot) is a string, which strict validation refuses as a
# float. Read YAML 1.2 floats as floats instead.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _count_nodes(value, limit: int) -> int:
    """Nodes of the loaded value as a tree (aliases count every time they are used), up to limit + 1.
    Aliases make a DAG that is small in memory but exponential as a tree, and validating, dumping or
    hashing it walks the tree: this walk stops as soon as the limit is passed."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def load_config(path: str | Path, overrides: dict | None = None, sets: list[str] = ()) -> RunConfig:
    """The validated config in `path`; `overrides` replace top-level keys, `sets` are `--set
    key.path=value` (config/overrides.py). Every problem is a ConfigError whose one line names the
    file (and the line, or the field): a missing or unreadable file, bad YAML, a duplicate key, an
    alias bomb, a wrong type or value, an unknown --set key."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config: {err.strerror or err}") from err
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {len(data)} bytes; a config is at most {MAX_CONFIG_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 (byte {err.start + 1})") from err
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        what = " ".join(str(getattr(err, "problem", None) or err).split())
        raise ConfigError(f"{where}: not valid YAML: {what}") from err
    except RecursionError as err:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from err
    if _count_nodes(raw, MAX_CONFIG_NODES) > MAX_CONFIG_NODES:
        raise ConfigError(f"{path}: more than {MAX_CONFIG_NODES} values once aliases are expanded (an alias bomb?)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    raw.update(overrides or {})
    if sets:
        from w2s_ray.config.overrides import OverrideError, apply_sets

        try:
            apply_sets(raw, sets, RunConfig, _UniqueKeyLoader)
        except OverrideError as err:
            raise ConfigError(f"{path}: {err}") from None
    return validate_config(raw, path)


def check_trackers(config: RunConfig, where: str | Path) -> None:
    """Each tracker of train.report_to imports here, on the driver, which has the workers' packages (one
    image, one lock): a missing one would otherwise fail only in the train workers, after generation.
    ConfigError naming `where`, the field and the package. For the commands that train (`w2s run`,
    `w2s resume`), not in load_config: `w2s plan` and `w2s serve` read the same config without a tracker,
    and importing MLflow takes seconds."""
    from w2s_ray.config.trackers import missing_tracker

    for tracker in config.train.report_to:
        why = missing_tracker(tracker)
        if why:
            raise ConfigError(f"{where}: field 'train.report_to': {why}")


def validate_config(raw: dict, where: str | Path) -> RunConfig:
    """RunConfig from a mapping (a config file's, or a manifest's); ConfigError naming `where` and
    every bad field, on one line."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        fields = []
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"]) or "(top level)"
            fields.append(f"field '{field}': {e['msg']}")
        raise ConfigError(f"{where}: invalid config: " + "; ".join(fields)) from err
