"""Shared pieces of the input schemas: a strict base model and unit-carrying field types.

Every quantity is stored in SI (seconds, bytes, hertz, bytes per second); the type name says which.
Each quantity type has a documented range, far wider than any real machine, so that a mistyped value
(``"1e309 Gbps"``, ``"1e-320 s"``) is an error and not an infinite or zero result downstream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Callable

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from accelsim.spec import units
from accelsim.spec.limits import show


class Strict(BaseModel):
    """Base of every input model: unknown keys are errors, values are immutable once validated.

    ``strict``: no silent conversions -- ``true`` is not the integer 1, ``"4"`` is not 4 and 4.5 is not an
    integer (an integer is still accepted where a real number is expected). ``allow_inf_nan=False``:
    ``.inf`` and ``.nan`` are refused wherever a number is expected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False)


# ---------------------------------------------------------------- text


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"is not valid text: a lone surrogate cannot be written as UTF-8, got {show(value)}") from None
    if "\0" in value:
        raise ValueError(f"must not contain a NUL character, got {show(value)}")
    return value


Text = Annotated[str, AfterValidator(_text)]
"""A string that can be written out as UTF-8 and passed to the operating system (no lone surrogates, no NUL)."""


# ---------------------------------------------------------------- quantities with units


def _quantity(parse: Callable[[object], float], fmt: Callable[[float], str], *, zero: bool = False,
              low: float | None = None, high: float | None = None, low_text: str = "", high_text: str = ""):
    """A validator: ``parse`` the value, then check it is positive (or non-negative) and within [low, high]."""

    def check(value: object) -> float:
        parsed = parse(value)
        if not math.isfinite(parsed):
            raise ValueError(f"must be a finite quantity, got {show(value)}")
        if zero:
            if parsed < 0:
                raise ValueError(f"must not be negative, got {show(value)}")
        elif not parsed > 0:
            raise ValueError(f"must be greater than zero, got {show(value)}")
        if low is not None and parsed < low and not (zero and parsed == 0):
            raise ValueError(f"must be at least {low_text}, got {show(value)}")
        if high is not None and parsed > high:
            raise ValueError(f"must be at most {high_text}, got {show(value)}")
        return parsed

    return check


@dataclass(frozen=True)
class Unit:
    """What a quantity field holds, for schemas and the field reference: ``"bandwidth"`` written as ``"32 Gbps"``,
    stored in ``"B/s"``."""

    quantity: str
    si: str
    example: str
    written: str  # the units a YAML value may use


def quantity(parse: Callable[[object], float], fmt: Callable[[float], str], unit: Unit, **limits) -> object:
    """An annotated float type for a quantity written with a unit; see :func:`_quantity` for ``limits``.

    In JSON Schema it is a string with a unit (``"32 Gbps"``), as YAML files write it, in the form the parser
    accepts (:func:`accelsim.spec.units.pattern`), so that an editor flags ``"32 furlongs"``."""
    schema = {"type": "string", "pattern": units.pattern(unit.quantity), "examples": [unit.example],
              "x-unit": unit.si, "x-units-accepted": unit.written}
    return Annotated[float, BeforeValidator(_quantity(parse, fmt, **limits)), PlainSerializer(fmt),
                     WithJsonSchema(schema, mode="validation"), unit]


HOUR = 3600.0

BytesPerSecond = quantity(units.parse_bandwidth, units.format_bandwidth,
                          Unit("bandwidth", "B/s", "32 Gbps", "bps, kbps, Mbps, Gbps, bit/s, B/s, MB/s, GB/s, MiB/s, ..."),
                          low=1e3 / 8, low_text="1 kbit/s", high=1e15 / 8, high_text="1 Pbit/s")
"""A bandwidth written as ``"32 Gbps"`` or ``"4 GB/s"``; stored in bytes per second; 1 kbit/s to 1 Pbit/s."""

Bytes = quantity(units.parse_size, units.format_size, Unit("size", "B", "2 MiB", "B, kB, MB, GB, KiB, MiB, GiB, kbit, Mbit, ..."),
                 low=1.0, low_text="1 B", high=2.0**50, high_text="1 PiB")
"""A size written as ``"2 MiB"``; stored in bytes; 1 B to 1 PiB."""

Hertz = quantity(units.parse_frequency, units.format_frequency, Unit("frequency", "Hz", "1.6 GHz", "Hz, kHz, MHz, GHz"),
                 low=1e6, low_text="1 MHz", high=1e11, high_text="100 GHz")
"""A frequency written as ``"1.6 GHz"``; stored in hertz; 1 MHz to 100 GHz."""

Seconds = quantity(units.parse_time, units.format_time, Unit("duration", "s", "2 us", "s, ms, us (or µs, μs), ns, ps"),
                   zero=True, high=HOUR, high_text="1 hour ('3600 s')")
"""A duration written as ``"2 us"``; stored in seconds; zero allowed, at most 1 hour."""

PositiveSeconds = quantity(units.parse_time, units.format_time, Unit("duration", "s", "20 ms", "s, ms, us (or µs, μs), ns, ps"),
                           high=HOUR, high_text="1 hour ('3600 s')")
"""A strictly positive duration written as ``"20 ms"``; stored in seconds; at most 1 hour."""

FrameShift = quantity(units.parse_time, units.format_time, Unit("duration", "s", "20 ms", "s, ms, us (or µs, μs), ns, ps"),
                      low=1e-6, low_text="1 us", high=10.0, high_text="10 s")
"""Audio time per encoder frame, written as ``"20 ms"``; stored in seconds; 1 us to 10 s."""
