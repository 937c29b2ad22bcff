"""Unit parsing (accelsim/spec/units.py): explicit units, SI inside, bits vs bytes never guessed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.spec import units
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.units import (
    format_bandwidth,
    format_size,
    format_time,
    parse_bandwidth,
    parse_frequency,
    parse_size,
    parse_time,
)

# ---------------------------------------------------------------- accepted forms


@pytest.mark.parametrize(
    ("text", "bytes_per_s"),
    [
        ("32 Gbps", 4e9),  # bits: 32e9 / 8
        ("64 Gbps", 8e9),
        ("4 GB/s", 4e9),  # bytes
        ("4 GBps", 4e9),
        ("32 Gbit/s", 4e9),
        ("32 Gb/s", 4e9),
        ("100 Mbps", 12.5e6),
        ("1 KiB/s", 1024.0),
        ("2 MiB/s", 2 * 1024**2),
        ("8 bps", 1.0),
        ("32Gbps", 4e9),  # no space
        ("  32 Gbps  ", 4e9),
        ("3.2e1 Gbps", 4e9),
    ],
)
def test_parse_bandwidth(text, bytes_per_s):
    assert parse_bandwidth(text) == pytest.approx(bytes_per_s, rel=1e-12)


def test_bits_and_bytes_differ_by_eight():
    assert parse_bandwidth("32 GB/s") == pytest.approx(8 * parse_bandwidth("32 Gbps"), rel=1e-12)
    assert parse_size("1 MB") == pytest.approx(8 * parse_size("1 Mbit"), rel=1e-12)


@pytest.mark.parametrize(
    ("text", "n_bytes"),
    [
        ("2 MiB", 2_097_152),
        ("2 MB", 2_000_000),
        ("16 GB", 16e9),
        ("1 GiB", 2**30),
        ("1 KiB", 1024),
        ("512 kbit", 64_000),
        ("1 B", 1),
        ("8 bit", 1),
        ("0.5 MiB", 524_288),
    ],
)
def test_parse_size(text, n_bytes):
    assert parse_size(text) == pytest.approx(n_bytes, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "hertz"),
    [("1.6 GHz", 1.6e9), ("800 MHz", 8e8), ("1 kHz", 1e3), ("50 Hz", 50.0)],
)
def test_parse_frequency(text, hertz):
    assert parse_frequency(text) == pytest.approx(hertz, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2 us", 2e-6),
        ("2 µs", 2e-6),  # MICRO SIGN (U+00B5)
        ("2 μs", 2e-6),  # GREEK SMALL LETTER MU (U+03BC), what most keyboards type
        ("20 ms", 0.02),
        ("1 s", 1.0),
        ("5 ns", 5e-9),
        ("0 us", 0.0),
        ("1.5 ms", 1.5e-3),
    ],
)
def test_parse_time(text, seconds):
    assert parse_time(text) == pytest.approx(seconds, rel=1e-12, abs=0.0)


# ---------------------------------------------------------------- refused forms


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        (parse_bandwidth, "32"),
        (parse_bandwidth, 32),
        (parse_bandwidth, 4e9),
        (parse_size, "2097152"),
        (parse_size, 2097152),
        (parse_frequency, "1.6e9"),
        (parse_frequency, 1.6e9),
        (parse_time, "0.02"),
        (parse_time, 0.02),
        (parse_bandwidth, True),
        (parse_bandwidth, None),
        (parse_bandwidth, ""),
    ],
)
def test_bare_numbers_are_refused(parse, value):
    """A number without a unit could be bits or bytes, us or ms: never guess."""
    with pytest.raises(ValueError, match="with a unit, such as"):
        parse(value)


@pytest.mark.parametrize(
    ("parse", "text", "expected_form"),
    [
        (parse_bandwidth, "32 Gbs", "Gbps"),  # the typo of the task: neither bits/s nor bytes/s
        (parse_bandwidth, "32 Gb", "Gbps"),  # a size, not a rate
        (parse_bandwidth, "4 GB", "GB/s"),
        (parse_bandwidth, "4 gbps", "Gbps"),  # prefixes are case-sensitive: 'g' is not giga
        (parse_size, "2 MiB/s", "MiB"),  # a rate, not a size
        (parse_size, "2 mib", "MiB"),
        (parse_size, "8 b", "MiB"),  # a bare 'b' is refused
        (parse_frequency, "1.6 GHZ", "GHz"),
        (parse_frequency, "1.6 G", "GHz"),
        (parse_time, "2 sec", "'ms'"),
        (parse_time, "2 min", "'ms'"),
        (parse_time, "20 MS", "'ms'"),
    ],
)
def test_unknown_units_are_refused_naming_the_expected_form(parse, text, expected_form):
    with pytest.raises(ValueError) as info:
        parse(text)
    message = str(info.value)
    assert "unknown" in message
    assert repr(text) in message  # quotes what the user wrote
    assert expected_form in message  # and says what would have been accepted


@pytest.mark.parametrize(
    ("parse", "text", "names", "advice"),
    [
        (parse_bandwidth, "64 GHz", "a frequency, not a bandwidth", "'Gbps'"),
        (parse_bandwidth, "4 GB", "a size, not a bandwidth", "'GB/s'"),
        (parse_size, "2 MiB/s", "a bandwidth, not a size", "'MiB'"),
        (parse_time, "1.6 GHz", "a frequency, not a duration", "'us'"),
        (parse_frequency, "2 us", "a duration, not a frequency", "'GHz'"),
    ],
)
def test_a_unit_of_another_quantity_is_named_as_such(parse, text, names, advice):
    """'64 GHz' for a bandwidth: say what it is, and which units a bandwidth takes."""
    with pytest.raises(ValueError) as info:
        parse(text)
    assert names in str(info.value) and advice in str(info.value)


def test_unit_error_message_is_one_line():
    with pytest.raises(ValueError) as info:
        parse_bandwidth("32 Gbs")
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("bytes_per_s", "text"),
    [(4e9, "32 Gbps"), (8e9, "64 Gbps"), (1.25e8, "1 Gbps"), (3.94e9, "31.52 Gbps")],
)
def test_format_bandwidth_writes_gbps(bytes_per_s, text):
    assert format_bandwidth(bytes_per_s) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.02, "20 ms"), (2e-6, "2 us"), (5e-9, "5 ns"), (1.5, "1500 ms")]
)
def test_format_time(seconds, text):
    assert format_time(seconds) == text
    assert parse_time(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(("n_bytes", "text"), [(2_097_152, "2 MiB"), (2**30, "1 GiB"), (1024, "1 KiB"), (1000, "1000 B")])
def test_format_size(n_bytes, text):
    assert format_size(n_bytes) == text
    assert parse_size(text) == n_bytes


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.floats(min_value=1e-3, max_value=1e15, allow_nan=False, allow_infinity=False))
def test_bandwidth_round_trip(bytes_per_s):
    """Writing a bandwidth and reading it back is exact: Gbps when that is exact, else bytes/s."""
    text = format_bandwidth(bytes_per_s)
    assert text.endswith((" Gbps", " B/s"))
    back = parse_bandwidth(text)
    assert back == bytes_per_s
    assert format_bandwidth(back) == text


def test_round_bandwidths_are_written_in_gbps():
    assert format_bandwidth(4e9) == "32 Gbps"
    assert format_bandwidth(8e9) == "64 Gbps"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(["Gbps", "Mbps", "kbps", "GB/s", "MB/s", "MiB/s", "GiB/s", "Gbit/s"]),
)
def test_parse_bandwidth_then_format_is_consistent(number, unit):
    """Any accepted spelling parses to the same SI value the Gbps formatter writes back."""
    value = parse_bandwidth(f"{number!r} {unit}")
    assert value > 0
    assert parse_bandwidth(format_bandwidth(value)) == value
    factor = {"G": 1e9, "M": 1e6, "k": 1e3, "Gi": 2**30, "Mi": 2**20}[unit.split("b")[0].split("B")[0]]
    per_byte = 1.0 if "B" in unit else 1 / 8
    assert value == pytest.approx(number * factor * per_byte, rel=1e-12)


# ---------------------------------------------------------------- specs store SI


def test_hardware_spec_stores_si(hw_spec):
    for seconds in (hw_spec.coprocessor.dispatch_overhead, hw_spec.link.latency, hw_spec.host.op_overhead):
        assert isinstance(seconds, float) and 0 <= seconds < 1e-3  # microseconds, stored in seconds
    # Sourced values (the paper's link, the chip's clock and scratchpad); assumed ones may be recalibrated.
    assert hw_spec.link.bandwidth == pytest.approx(4e9, rel=1e-12)  # "32 Gbps"
    assert hw_spec.coprocessor.clock == pytest.approx(1.6e9, rel=1e-12)  # "1.6 GHz"
    assert hw_spec.coprocessor.scratchpad == 2_097_152  # "2 MiB"


def test_workload_spec_stores_si(workload_spec):
    assert workload_spec.utterance.frame_shift == pytest.approx(0.02, rel=1e-12)  # "20 ms"


def test_hardware_spec_dump_round_trips(hw_spec):
    """model_dump writes units back; validating the dump gives the same spec."""
    dumped = hw_spec.model_dump(mode="json")
    assert dumped["link"]["bandwidth"] == "32 Gbps"
    assert dumped["coprocessor"]["scratchpad"] == "2 MiB"
    assert HardwareSpec.model_validate(dumped) == hw_spec


def test_spec_dump_is_lossless_for_non_round_values(hw_spec, workload_spec):
    from accelsim.api import resolve

    odd = hw_spec.model_copy(
        update={"link": hw_spec.link.model_copy(update={"bandwidth": 4.123456789e9, "latency": 1.23456789e-6})}
    )
    # An unrelated override applied to an in-memory spec must leave the link alone.
    _, changed = resolve(workload_spec, odd, overrides=["hw.coprocessor.cores=2"])
    assert changed.coprocessor.cores == 2
    assert changed.link.bandwidth == odd.link.bandwidth
    assert changed.link.latency == odd.link.latency


def test_decimal_and_binary_prefixes_are_distinct():
    assert parse_size("1 MiB") / parse_size("1 MB") == pytest.approx(1.048576, rel=1e-12)
    assert parse_size("1 GiB") / parse_size("1 GB") == pytest.approx(1.073741824, rel=1e-12)
    assert math.isclose(parse_size("1 kB"), 1000.0)
    assert math.isclose(parse_size("1 KB"), 1000.0)  # 'K' is accepted as decimal kilo; only 'Ki' is binary
    assert units.parse_size("1 KiB") == 1024.0


# ---------------------------------------------------------------- the accepted form, as the JSON Schema states it

SPELLINGS = {
    "bandwidth": ["Gbps", "GB/s", "GBps", "Gbit/s", "Gb/s", "Mbps", "KiB/s", "MiB/s", "bps", "B/s", "kbps", "Tbps"],
    "size": ["MiB", "MB", "GB", "GiB", "KiB", "kbit", "B", "bit", "kB", "KB", "Mb", "TiB"],
    "frequency": ["GHz", "MHz", "kHz", "Hz"],
    "duration": ["s", "ms", "us", "µs", "μs", "ns", "ps"],
}
REFUSED = ["furlongs", "Gbs", "gbps", "GHZ", "sec", "min", "MS", "mib", "b", "G", "Gbps/s", "m", "gigabit"]


@pytest.mark.parametrize("kind", list(SPELLINGS))
def test_schema_pattern_and_parser_accept_the_same_spellings(kind):
    """The JSON Schema's pattern of a unit field is the parser's own form: what one accepts the other accepts."""
    import re

    regex = re.compile(units.pattern(kind))
    for unit in SPELLINGS[kind]:
        assert regex.search(f"32 {unit}") and units.parse(f"32 {unit}", kind) > 0, unit
    for unit in REFUSED + [u for k, spelled in SPELLINGS.items() if k != kind for u in spelled
                           if u not in SPELLINGS[kind]]:
        assert not regex.search(f"32 {unit}"), unit
        with pytest.raises(ValueError, match="unknown"):
            units.parse(f"32 {unit}", kind)


def test_hardware_schema_flags_an_unknown_unit():
    """An editor validating against hardware.schema.json flags '32 furlongs' (it used to accept any letters)."""
    import jsonschema

    from accelsim.sweep.reference import schema

    hw = schema("hardware")
    bandwidth = hw["$defs"]["LinkSpec"]["properties"]["bandwidth"]
    jsonschema.validate("32 Gbps", bandwidth)
    for bad in ("32 furlongs", "32 GHz", "32"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, bandwidth)
