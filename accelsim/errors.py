"""Errors a user can cause. The CLI prints them as one line and exits with code 2.

A user's file name or value echoed in such a line is first made printable and bounded (:func:`shown_path`), so
that a 5,000-character path or a name with a newline still gives one short line.
"""

from __future__ import annotations

from pathlib import Path

#: Most characters of a file name (or ``--set`` flag) echoed at the head of an error line.
MAX_SOURCE = 120


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (newlines, NUL, lone surrogates) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii") for c in text)


def clip_middle(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters by dropping its middle (keeps a path's file name)."""
    if len(text) <= limit:
        return text
    head = (limit - 3) // 2
    return text[:head] + "..." + text[len(text) - (limit - 3 - head):]


def shown_path(path: str | Path) -> str:
    """A file name as an error line shows it: one printable line of at most MAX_SOURCE characters."""
    return clip_middle(one_line(str(path)), MAX_SOURCE)


class AccelsimError(Exception):
    """A problem with the user's input (a file, a key, a flag), never a bug in accelsim."""


class SpecError(AccelsimError):
    """An input file or override that does not describe a valid workload or machine.

    The message always says where (file or ``--set`` flag), which key path, and what was expected.
    """

    def __init__(self, source: str, key: str | None, message: str):
        self.source = source
        self.key = key
        self.detail = message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # rebuilt from its three parts when it travels back from a worker process
        return (type(self), (self.source, self.key, self.detail))
