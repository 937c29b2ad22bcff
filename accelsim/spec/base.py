"""Shared pieces of the input schemas: a strict base model and unit-carrying field types.

Every quantity is stored in SI (seconds, bytes, hertz, bytes per second); the type name says which.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from accelsim.spec import units


class Strict(BaseModel):
    """Base of every input model: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _positive(parse):
    def check(value: object) -> float:
        parsed = parse(value)
        if not parsed > 0:
            raise ValueError(f"must be greater than zero, got {value!r}")
        return parsed

    return check


def _non_negative(parse):
    def check(value: object) -> float:
        parsed = parse(value)
        if parsed < 0:
            raise ValueError(f"must not be negative, got {value!r}")
        return parsed

    return check


BytesPerSecond = Annotated[
    float, BeforeValidator(_positive(units.parse_bandwidth)), PlainSerializer(units.format_bandwidth)
]
"""A bandwidth written as ``"32 Gbps"`` or ``"4 GB/s"``; stored in bytes per second."""

Bytes = Annotated[float, BeforeValidator(_positive(units.parse_size)), PlainSerializer(units.format_size)]
"""A size written as ``"2 MiB"``; stored in bytes."""

Hertz = Annotated[float, BeforeValidator(_positive(units.parse_frequency)), PlainSerializer(units.format_frequency)]
"""A frequency written as ``"1.6 GHz"``; stored in hertz."""

Seconds = Annotated[float, BeforeValidator(_non_negative(units.parse_time)), PlainSerializer(units.format_time)]
"""A duration written as ``"2 us"``; stored in seconds (zero allowed)."""

PositiveSeconds = Annotated[float, BeforeValidator(_positive(units.parse_time)), PlainSerializer(units.format_time)]
"""A strictly positive duration written as ``"20 ms"``; stored in seconds."""
