"""Limits of what an input may be, and how much of a bad value an error message may show.

Every limit is far above any real machine, model or recipe; it exists so that a mistyped or hostile
input ends in one clear error instead of a hang, a traceback or a silent infinity. The size and count
limits of individual fields live next to the fields (see their ``description``); the limits here are
those of reading YAML at all.
"""

from __future__ import annotations

import reprlib

from accelsim.errors import MAX_SOURCE, clip_middle, one_line  # noqa: F401 (re-exported: the limits of error lines)

#: Largest input file read, in bytes (workload, hardware, recipe and targets files are a few kB).
MAX_FILE_BYTES = 1 << 20  # 1 MiB

#: Most encoder frames of one utterance (and of a chunk, a context, ``u_max``): 100,000 frames (33 minutes at 20 ms)
#: decode and run in about 5 s and 0.8 GB on the shipped workload (tests/test_hardening.py runs it). The search keeps
#: every prefix it created and the program one segment per iteration, so both grow with the length: 1,000,000
#: frames, the earlier limit, took 4 GB and 50 s.
MAX_FRAMES = 100_000

#: Largest recorded decode trace read (``decoding.trace``, JSON Lines of about 100 bytes per ALSD iteration): room
#: for the iterations of an utterance at the frames maximum with a label per frame, far more than any real decode.
MAX_TRACE_BYTES = 64 << 20  # 64 MiB

#: Deepest nesting of mappings and lists in a YAML document or a ``--set`` value (the shipped files
#: nest 5 deep). Deeper documents are refused before the YAML reader recurses into them.
MAX_DEPTH = 100

#: Most YAML aliases (``*name``) in one document.
MAX_ALIASES = 1_000

#: Most values (scalars, mappings, lists) in one document once aliases are expanded: a "billion
#: laughs" document of a few lines expands to billions of them.
MAX_NODES = 200_000

#: Most dotted parts in a ``--set`` key path.
MAX_KEY_PARTS = MAX_DEPTH

#: Most characters of a user's value echoed in an error message.
MAX_SHOWN = 100

#: Most characters of a key path in an error message (MAX_SOURCE, in accelsim.errors, bounds the file name or flag).
MAX_KEY = 100

#: Most characters of a whole error line (source, key path and message).
MAX_MESSAGE = 400

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 6
_REPR.maxstring = MAX_SHOWN
_REPR.maxlong = 40
_REPR.maxother = MAX_SHOWN


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in '...' when cut."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def show(value: object) -> str:
    """A bounded, one-line ``repr`` of a user's value, for 'got ...' in an error message."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails (e.g. an int too long to print) must not hide the real error
        text = f"<{type(value).__name__}>"
    return clip(one_line(text), MAX_SHOWN)


def show_names(names: list[str], most: int = 12) -> str:
    """``['a', 'b', ...]`` for a list of names in a message, at most ``most`` of them."""
    if len(names) <= most:
        return "[" + ", ".join(show(n) for n in names) + "]"
    return "[" + ", ".join(show(n) for n in names[:most]) + f", ... ({len(names)} in all)]"
