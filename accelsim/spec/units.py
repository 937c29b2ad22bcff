"""Parse quantities with units from YAML strings into SI values, with pint.

Bits and bytes are never guessed: ``"32 Gbps"`` is bits per second, ``"4 GB/s"`` bytes per second,
and a bare number is refused where a unit is required. Decimal prefixes (k or K, M, G, T) are powers of
1000, binary prefixes (Ki, Mi, Gi, Ti) powers of 1024; durations take m, u (or µ, μ), n and p.

Each kind of quantity has its accepted spellings, one regular expression (:func:`pattern`, also the JSON
Schema's ``pattern`` of every field of that kind, so that an editor flags what accelsim refuses); pint gives
them their meaning (prefix factors, bits against bytes, dimensions). A unit's factor to SI is worked out once
per spelling and kept, so reading a value is a regular-expression match and a multiplication.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from accelsim.spec.limits import show

#: The units accelsim reads, in pint's definition syntax; nothing else is defined (pint's own 'b' is a barn).
DEFINITIONS = """
second = [time] = s
byte = [information] = B
bit = byte / 8 = b
hertz = 1 / second = Hz
bps = bit / second
Bps = byte / second
pico- = 1e-12 = p-
nano- = 1e-9 = n-
micro- = 1e-6 = u- = µ- = μ-
milli- = 1e-3 = m-
kilo- = 1e3 = k- = K-
mega- = 1e6 = M-
giga- = 1e9 = G-
tera- = 1e12 = T-
kibi- = 2**10 = Ki-
mebi- = 2**20 = Mi-
gibi- = 2**30 = Gi-
tebi- = 2**40 = Ti-
"""

#: Prefixes of data quantities and frequencies, and of durations (longest first, for the regular expressions).
LARGE = ("Ki", "Mi", "Gi", "Ti", "k", "K", "M", "G", "T")
SMALL = ("m", "u", "µ", "μ", "n", "p")

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_SPLIT = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>\S(?:.*\S)?)?\s*$", re.DOTALL)


@dataclass(frozen=True)
class Kind:
    """A kind of quantity: how it is named in messages, its SI unit and its accepted spellings."""

    name: str  # "bandwidth", as in "a bandwidth"
    si: str  # the pint unit of the stored value
    prefixes: tuple[str, ...]
    units: tuple[str, ...]  # unit symbols, each with an optional prefix
    prefixed_only: tuple[str, ...]  # unit symbols that need a prefix ('b' alone: bit or byte?)
    example: str
    advice: str

    @functools.cached_property
    def unit_pattern(self) -> str:
        prefixes = "|".join(self.prefixes)
        bare = "|".join(re.escape(u) for u in self.units)
        forms = [f"(?:{prefixes})?(?:{bare})"]
        if self.prefixed_only:
            forms.append(f"(?:{prefixes})(?:{'|'.join(re.escape(u) for u in self.prefixed_only)})")
        return "|".join(forms)

    @functools.cached_property
    def unit_regex(self) -> re.Pattern[str]:
        return re.compile(f"(?:{self.unit_pattern})")


KINDS = {
    "bandwidth": Kind("bandwidth", "B/s", LARGE, ("bit/s", "bps", "b/s", "B/s", "Bps"), (), "'32 Gbps' or '4 GB/s'",
                      "use bits ('Gbps', 'Mbit/s') or bytes ('GB/s', 'MiB/s')"),
    "size": Kind("size", "B", LARGE, ("bit", "B"), ("b",), "'2 MiB' or '16 GB'",
                 "use bytes ('MiB', 'GB', 'B') or bits ('Mbit')"),
    "frequency": Kind("frequency", "Hz", LARGE, ("Hz",), (), "'1.6 GHz'", "use 'Hz', 'MHz' or 'GHz'"),
    "duration": Kind("duration", "s", SMALL, ("s",), (), "'2 us' or '20 ms'", "use 's', 'ms', 'us' (or 'µs') or 'ns'"),
}


def pattern(kind: str) -> str:
    """The accepted form of a value of ``kind`` as a regular expression (for a JSON Schema's ``pattern``)."""
    return rf"^\s*{_NUMBER}\s*(?:{KINDS[kind].unit_pattern})\s*$"


@functools.lru_cache(maxsize=1)
def _registry():
    import pint  # imported on the first quantity read: `accelsim --help` does not pay for it

    registry = pint.UnitRegistry(None, cache_folder=None)
    for line in DEFINITIONS.strip().splitlines():
        registry.define(line)
    return registry


@functools.lru_cache(maxsize=512)
def _factor(kind: str, unit: str) -> float | None:
    """SI value of one ``unit`` of ``kind``, or None when ``unit`` is not one of its spellings."""
    if not KINDS[kind].unit_regex.fullmatch(unit):
        return None
    return float(_registry().Quantity(1.0, unit).to(KINDS[kind].si).magnitude)


def _unknown(kind: str, unit: str, text: object = None) -> ValueError:
    """'unknown bandwidth unit 'GHz' in '64 GHz' (that is a frequency, not a bandwidth); use bits ...'."""
    spec = KINDS[kind]
    other = next((k for k in KINDS if k != kind and _factor(k, unit) is not None), None)
    where = f" in {show(text)}" if text is not None else ""
    what = f" (that is a {other}, not a {spec.name})" if other else ""
    return ValueError(f"unknown {spec.name} unit {show(unit)}{where}{what}; {spec.advice}")


def parse(text: object, kind: str) -> float:
    """``text`` (a number and a unit of ``kind``) -> its SI value; one clear ``ValueError`` line otherwise."""
    spec = KINDS[kind]
    match = _SPLIT.match(text) if isinstance(text, str) else None
    if match is None or match["unit"] is None:
        raise ValueError(f"expected a {spec.name} with a unit, such as {spec.example}, got {show(text)}")
    factor = _factor(kind, match["unit"])
    if factor is None:
        raise _unknown(kind, match["unit"], text)
    value = float(match["num"]) * factor
    if not math.isfinite(value):  # '1e309 Gbps' would pass every '> 0' check
        raise ValueError(f"a {spec.name} too large to represent, got {show(text)}")
    return value


def unit_scale(unit: str, kind: str) -> float:
    """SI value of one ``unit`` of ``kind`` (``unit_scale('us', 'duration') == 1e-6``); a ``ValueError`` naming the
    units of ``kind`` when ``unit`` is not one of them."""
    factor = _factor(kind, unit)
    if factor is None:
        raise _unknown(kind, unit)
    return factor


def parse_bandwidth(text: object) -> float:
    """``"32 Gbps"`` or ``"4 GB/s"`` -> bytes per second."""
    return parse(text, "bandwidth")


def parse_size(text: object) -> float:
    """``"2 MiB"``, ``"16 GB"`` -> bytes; ``"512 kbit"`` -> bytes."""
    return parse(text, "size")


def parse_frequency(text: object) -> float:
    """``"1.6 GHz"`` -> hertz."""
    return parse(text, "frequency")


def parse_time(text: object) -> float:
    """``"2 us"``, ``"20 ms"``, ``"2 μs"`` -> seconds."""
    return parse(text, "duration")


def _exact(pretty: str, value: float, parse, base_unit: str) -> str:
    """The readable form when it parses back to exactly ``value``, else the base unit (always exact)."""
    return pretty if parse(pretty) == value else f"{value!r} {base_unit}"


def format_bandwidth(bytes_per_s: float) -> str:
    """Inverse of :func:`parse_bandwidth` for writing YAML: in Gbps (the paper's unit) when exact."""
    return _exact(f"{bytes_per_s * 8 / 1e9:.12g} Gbps", bytes_per_s, parse_bandwidth, "B/s")


def format_time(seconds: float) -> str:
    if seconds >= 1e-3:
        pretty = f"{seconds * 1e3:.12g} ms"
    elif seconds >= 1e-6:
        pretty = f"{seconds * 1e6:.12g} us"
    else:
        pretty = f"{seconds * 1e9:.12g} ns"
    return _exact(pretty, seconds, parse_time, "s")


def format_size(n_bytes: float) -> str:
    for prefix, factor in (("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)):
        if n_bytes >= factor and (n_bytes / factor) == round(n_bytes / factor, 6):
            return _exact(f"{n_bytes / factor:.12g} {prefix}B", n_bytes, parse_size, "B")
    return f"{n_bytes!r} B"


def format_frequency(hertz: float) -> str:
    return _exact(f"{hertz / 1e9:.12g} GHz", hertz, parse_frequency, "Hz")
