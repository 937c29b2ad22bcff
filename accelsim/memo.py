"""Process-wide memos, all registered in one place so that one call forgets them all.

Each stage keeps what it has already computed for equal inputs (a parsed file, a search trace, a lowered
segment, a simulated segment). They are bounded (oldest entry out first) and keyed by content, so a memo
can make a run faster but never different.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable

_ALL: list["Memo"] = []


class Memo:
    """A bounded mapping from a content key to what was computed for it."""

    def __init__(self, name: str, maxsize: int, register: bool = True):
        self.name = name
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        if register:  # a memo held by an object that is itself in a registered memo is forgotten with it
            _ALL.append(self)

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value for ``key``, computing it with ``make()`` the first time."""
        try:
            return self._data[key]
        except KeyError:
            pass
        value = make()
        self._data[key] = value
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


def memoize(name: str, maxsize: int) -> Callable[[Callable], Callable]:
    """Decorator: memoize a function of hashable arguments in a registered :class:`Memo`."""

    def wrap(fn: Callable) -> Callable:
        memo = Memo(name, maxsize)

        def cached(*args: Hashable) -> Any:
            return memo.get(args, lambda: fn(*args))

        cached.__name__ = fn.__name__
        cached.__doc__ = fn.__doc__
        cached.__wrapped__ = fn  # type: ignore[attr-defined]
        cached.memo = memo  # type: ignore[attr-defined]
        return cached

    return wrap


def clear_caches() -> None:
    """Forget every memo of this process (searches, lowerings, simulated segments, parsed files)."""
    for memo in _ALL:
        memo.clear()
