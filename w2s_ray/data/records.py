"""What every record format's mapper shares (data/formats.py, data/capability_formats.py): the error
naming the field at fault, and the checks of a text field and of a record's id."""
from __future__ import annotations

from typing import Any

from w2s_ray.data.schema import content_hash


class RecordError(Exception):
    """A record that does not fit its format; field is None when no single field is at fault."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def require_text(record: dict, field: str) -> str:
    if field not in record:
        raise RecordError(field, "missing")
    value = record[field]
    if not isinstance(value, str):
        raise RecordError(field, f"expected a string, got {type_name(value)}")
    if not value.strip():
        raise RecordError(field, "is empty")
    return value


def record_id(record: dict, prefix: str, question: str) -> str:
    """The record's own id if it has one (null counts as none), else prefix:content_hash."""
    value = record.get("id")
    if value is None:
        return f"{prefix}:{content_hash(question)}"
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise RecordError("id", f"expected a non-empty string or an integer, got {value!r}")
    return str(value)
