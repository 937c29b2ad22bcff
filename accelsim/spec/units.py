"""Parse quantities with units from YAML strings into SI values.

Bits and bytes are never guessed: ``"32 Gbps"`` is bits per second, ``"4 GB/s"`` bytes per second,
and a bare number is refused where a unit is required. Decimal prefixes (k, M, G, T) are powers of
1000, binary prefixes (Ki, Mi, Gi) powers of 1024.
"""

from __future__ import annotations

import math
import re

from accelsim.spec.limits import show

_NUMBER = r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_PATTERN = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[A-Za-zµ/]+)\s*$")

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "ps": 1e-12}


def _split(text: object, kind: str, example: str) -> tuple[float, str]:
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"expected {kind} with a unit, such as {example}, got {show(text)}")
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"expected {kind} with a unit, such as {example}, got {show(text)}")
    return float(match["num"]), match["unit"]


def _finite(value: float, text: object, kind: str) -> float:
    """Refuse a quantity that overflowed to infinity ('1e309 Gbps'): it would pass every '> 0' check."""
    if not math.isfinite(value):
        raise ValueError(f"{kind} too large to represent, got {show(text)}")
    return value


def _prefixed(unit: str, suffixes: tuple[str, ...]) -> tuple[float, str] | None:
    """Split ``unit`` into (prefix factor, base suffix) if it ends in one of ``suffixes``."""
    for suffix in suffixes:
        if unit.endswith(suffix):
            prefix = unit[: -len(suffix)]
            if prefix in _BINARY:
                return _BINARY[prefix], suffix
            if prefix in _DECIMAL:
                return _DECIMAL[prefix], suffix
    return None


def parse_bandwidth(text: object) -> float:
    """``"32 Gbps"`` or ``"4 GB/s"`` -> bytes per second."""
    example = "'32 Gbps' or '4 GB/s'"
    value, unit = _split(text, "a bandwidth", example)
    found = _prefixed(unit, ("bps", "bit/s", "b/s", "B/s", "Bps"))
    if found is None:
        raise ValueError(f"unknown bandwidth unit {show(unit)} in {show(text)}; use bits ('Gbps', 'Mbit/s') or bytes ('GB/s', 'MiB/s')")
    factor, suffix = found
    per_byte = 1.0 if suffix in ("B/s", "Bps") else 1.0 / 8.0
    return _finite(value * factor * per_byte, text, "a bandwidth")


def parse_size(text: object) -> float:
    """``"2 MiB"``, ``"16 GB"`` -> bytes; ``"512 kbit"`` -> bytes."""
    example = "'2 MiB' or '16 GB'"
    value, unit = _split(text, "a size", example)
    found = _prefixed(unit, ("B", "bit", "b"))
    if found is None or unit in ("b",):
        raise ValueError(f"unknown size unit {show(unit)} in {show(text)}; use bytes ('MiB', 'GB', 'B') or bits ('Mbit')")
    factor, suffix = found
    return _finite(value * factor * (1.0 if suffix == "B" else 1.0 / 8.0), text, "a size")


def parse_frequency(text: object) -> float:
    """``"1.6 GHz"`` -> hertz."""
    value, unit = _split(text, "a frequency", "'1.6 GHz'")
    found = _prefixed(unit, ("Hz",))
    if found is None:
        raise ValueError(f"unknown frequency unit {show(unit)} in {show(text)}; use 'Hz', 'MHz' or 'GHz'")
    return _finite(value * found[0], text, "a frequency")


def parse_time(text: object) -> float:
    """``"2 us"``, ``"20 ms"`` -> seconds."""
    value, unit = _split(text, "a duration", "'2 us' or '20 ms'")
    if unit not in _TIME:
        raise ValueError(f"unknown time unit {show(unit)} in {show(text)}; use 's', 'ms', 'us' or 'ns'")
    return _finite(value * _TIME[unit], text, "a duration")


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
