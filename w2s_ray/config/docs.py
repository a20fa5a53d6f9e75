"""docs/config.md, generated from the pydantic models of the run config (config.RunConfig).

    python -m w2s_ray.config.docs            # (re)write docs/config.md;  `make docs`
    python -m w2s_ray.config.docs --check    # exit 1 when docs/config.md is out of date

Every section reachable from RunConfig is listed (a recipe's section is a RunConfig field, so a new
one appears without an edit here), with each field's type, default, constraints and its description:
`Field(description=...)` if given, else the comments written at the field in the source (the line
itself and the comment block just above it), which is where this project documents its fields.
"""
from __future__ import annotations

import argparse
import ast
import enum
import inspect
import io
import json
import sys
import textwrap
import tokenize
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "config.md"  # the repository's docs/, which README links
HEADER = """# Config reference

Generated from the pydantic models in `w2s_ray/` by `make docs` (`python -m w2s_ray.config.docs`);
do not edit by hand: `tests/test_config_docs.py` fails when this file and the models differ.
A config is YAML; unknown keys are errors and types are strict (`"3"` is not a number). Any field can
also be set on the command line: `w2s run CONFIG --set train.lr=1e-4`.
"""


def render(root: type[BaseModel] | None = None) -> str:
    """The whole reference, as markdown: one section per model reachable from `root`."""
    if root is None:
        from w2s_ray.config import RunConfig as root  # noqa: N813 - imported here: config imports Ray's env
    sections: list[str] = [HEADER]
    for path, model in _sections(root):
        sections.append(_section(path, model))
    return "\n".join(sections)


def _sections(root: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """(path, model) for root and every model under it, depth first in field order; a model reached
    twice (the weak and strong teachers) is listed once, under every path it has."""
    order: list[type[BaseModel]] = []
    paths: dict[type[BaseModel], list[str]] = {}

    def visit(model: type[BaseModel], path: str) -> None:
        if model in paths:
            paths[model].append(path)
        else:
            paths[model] = [path]
            order.append(model)
        if path.count(".") > 8:  # a model that contains itself
            return
        for name, field in model.model_fields.items():
            for sub, suffix in _models_in(field.annotation):
                visit(sub, f"{path}.{name}{suffix}" if path else f"{name}{suffix}")

    visit(root, "")
    return [(", ".join(f"`{p}`" for p in paths[m]) if paths[m] != [""] else "top level", m) for m in order]


def _models_in(annotation) -> list[tuple[type[BaseModel], str]]:
    """The models a field holds, with "[]" for a list item / "{}" for a dict value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    origin, found = typing.get_origin(annotation), []
    for arg in typing.get_args(annotation):
        suffix = "[]" if origin in (list, tuple, set) else "{}" if origin is dict else ""
        found += [(m, suffix + s) for m, s in _models_in(arg)]
    return found


def _section(path: str, model: type[BaseModel]) -> str:
    doc = inspect.cleandoc(model.__doc__) if model.__doc__ and model.__doc__ != BaseModel.__doc__ else ""
    comments = _field_comments(model)
    lines = [f"## {path}", "", f"`{model.__module__}.{model.__qualname__}`", ""]
    if doc:
        lines += [doc, ""]
    lines += ["| field | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        description = field.description or comments.get(name, "")
        constraints = _constraints(field)
        lines.append("| " + " | ".join(_cell(c) for c in (
            f"`{name}`", _type_name(field.annotation) + (f" ({constraints})" if constraints else ""),
            _default(field), description)) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type_name(annotation) -> str:
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(json.dumps(m.value) for m in annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name
    if annotation is typing.Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, BaseModel):  # its fields' defaults are listed in its own section
        return "its section's defaults"
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        value = [v.model_dump(mode="json", exclude_defaults=True) for v in value]
    return f"`{json.dumps(value)}`"


def _constraints(field: FieldInfo) -> str:
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "min length",
               "max_length": "max length"}
    out = []
    for meta in field.metadata:
        for attr, symbol in symbols.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{symbol} {value}")
    return ", ".join(out)


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """{field: its comments in the source}, from the model and the models it derives from (a model
    built by create_model has no source of its own)."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            found.update(_own_field_comments(cls))
    return found


def _own_field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The comment block right above each field of this class's source and the comments on the
    field's own lines."""
    try:
        lines, first = inspect.getsourcelines(model)
    except (OSError, TypeError):  # defined where no source is kept (an interactive session)
        return {}
    source = textwrap.dedent("".join(lines))
    comments: dict[int, str] = {}  # line number (1-based in `source`) -> comment text
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    code_lines = source.splitlines()
    body = ast.parse(source).body[0].body
    found: dict[str, str] = {}
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, line = [], node.lineno - 1
        while line >= 1 and line in comments and code_lines[line - 1].strip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        own = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        text = " ".join(part for part in above + own if part)
        if text:
            found[node.target.id] = text
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) docs/config.md from the config models.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date; write nothing")
    parser.add_argument("--out", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
