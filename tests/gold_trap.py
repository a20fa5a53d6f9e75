"""Rows whose gold fields fail any use: a selection that reads gold fails the test that feeds it these."""
from __future__ import annotations


class _Poison:
    """A gold value that fails any use: comparing, hashing, printing, truthiness, serialising."""

    def _boom(self, *a, **k):
        raise AssertionError("selection read a gold label")

    __eq__ = __ne__ = __hash__ = __bool__ = __str__ = __repr__ = __format__ = _boom


class _GoldTrap(dict):
    GOLD = ("gold", "correct", "has_gold")

    def __getitem__(self, key):
        if key in self.GOLD:
            raise AssertionError(f"selection read {key!r}")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key in self.GOLD:
            raise AssertionError(f"selection read {key!r}")
        return super().get(key, default)


def trapped(row: dict) -> dict:
    """row with every gold field poisoned, as a dict that refuses to hand them out."""
    return _GoldTrap({**row, "gold": _Poison(), "correct": _Poison(), "has_gold": _Poison()})
