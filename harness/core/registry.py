"""One shape for everything a user may add: models, backends, precisions, scenarios.

Register an entry by name; get it back by name (an unknown name is one line listing the
choices); list the names for `info`, `--help` and the matrix's checks. Nothing else in
edgebench lists them by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from harness.core.errors import UsageError

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    def __init__(self, kind: str):
        self.kind = kind  # what one entry is, for errors: "model", "backend", ...
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, entry: Entry) -> Entry:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def replace(self, name: str, entry: Entry) -> Entry:
        """Put `entry` where a registered one of that name was (a user's model whose card
        was read again: the same model, its defaults said differently)."""
        self.get(name)
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(f"unknown {self.kind} {name!r}; choose one of: "
                             f"{', '.join(self._entries)}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, Entry]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
