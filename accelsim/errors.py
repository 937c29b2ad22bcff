"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


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
