"""A probe's figures as a hardware YAML, every value with its source in a comment.

:func:`hardware_values` is the one mapping from :class:`ProbeResult` to the hardware schema
(``accelsim/spec/hardware.py``); :func:`hardware_yaml` only renders it. The CPU is written in the ``cpu`` hardware
family: one core at the measured clock and MAC rate, the caches the OS describes as ``memory.levels`` with their
measured read bandwidths, weights in DRAM, streamed while each op computes; the link is a copy in the same memory.
"""

from __future__ import annotations

import json
import math

from accelsim.measure.probe import LOOPS, SPECIAL, ProbeResult
from accelsim.spec import units

#: int8 MACs per FP32 MAC of the same vector width (VPDPBUSD / VPDPBUSDS: 4 int8 products per 32-bit lane).
INT8_PER_FP32 = 4
#: FP16 MACs per FP32 MAC of the same vector width (AVX512-FP16: twice the lanes).
FP16_PER_FP32 = 2

Entry = tuple[object, str]  # (value, comment)


def hardware_values(probe: ProbeResult) -> dict[str, object]:
    """The hardware file's sections (family cpu), each key with its value and the comment that cites it."""
    seen = _Cite(probe)
    fp32 = _sig(probe.value("fp32_macs_per_cycle"), 3)
    overhead = probe.value("call_overhead")
    special = {name: (_sig(probe.value(f"{name}_ops_per_cycle"), 3), seen(f"{name}_ops_per_cycle"))
               for name in (*SPECIAL, *LOOPS) if f"{name}_ops_per_cycle" in probe.figures}
    return {
        "family": ("cpu", "the CPU runs every op of the model itself (accelsim/hw/cpu.py)"),
        "cpu": {
            "cores": (1, "Assumption: one thread runs the workload (accelsim measure --threads 1, the default); the "
                         "probe's all-core figures are in accelsim probe --json"),
            "clock": (units.format_frequency(_sig(probe.value("clock"))), seen("clock")),
            "macs_per_cycle": _formats(probe, fp32, seen),
            "vector_ops_per_cycle": (_sig(probe.value("elementwise_ops_per_cycle"), 3), seen("elementwise_ops_per_cycle")),
            **({"special_ops_per_cycle": special} if special else {}),
            "call_overhead": (_time(overhead), seen("call_overhead")),
            **{name: (_time(probe.value(name)), seen(name)) for name in ("matmul_call_overhead", "view_overhead")
               if name in probe.figures},
            **({"pack_bandwidth": (_bandwidth(probe.value("pack_bandwidth")), seen("pack_bandwidth"))}
               if "pack_bandwidth" in probe.figures else {}),
            "launch_overhead": ("0 s", "Assumption: a numpy program starts with its first call (each charged above)"),
        },
        "host": {
            "op_overhead": (_time(overhead), seen("call_overhead")),
            "fuse_per_element": (_time(1 / probe.value("elementwise_ops_per_s")),
                                 "1 / elementwise_ops_per_s; " + seen("elementwise_ops_per_s")),
            "sort_per_element": (_time(probe.value("topk_per_element")), seen("topk_per_element")),
            "merge_per_element": (_time(probe.value("merge_per_element")), seen("merge_per_element")),
            "memory_bandwidth": (_bandwidth(probe.value("copy_L2")), seen("copy_L2")),
        },
        "link": {
            "bandwidth": (_bandwidth(probe.value("copy_L2")), "no bus: a transfer is a copy in the same memory; "
                                                              + seen("copy_L2")),
            "lanes": (1, "one copy at a time"),
            "efficiency": (1.0, "the copy rate above is already what a copy achieves"),
            "latency": (_time(overhead), "one numpy call per copy; " + seen("call_overhead")),
        },
        "memory": {
            "weights_home": ("DRAM", "weights live in the CPU's own DRAM"),
            "residency": ("cache", "hardware caches: each op reads its weights from the nearest level still holding them"),
            "overlap": (1.0, "Assumption: an out-of-order core with hardware prefetchers streams a matmul's weights "
                             "while it computes (not measured)"),
            "levels": _levels(probe, seen),
        },
    }


def _levels(probe: ProbeResult, seen: "_Cite") -> list[dict[str, Entry]]:
    """The data caches the OS describes, then DRAM, each with its measured read bandwidth (one thread; all CPUs for a
    shared level's cap)."""
    out = []
    for cache in sorted((c for c in probe.cpu.caches if c.kind != "Instruction"), key=lambda c: c.level):
        if f"read_{cache.name}" not in probe.figures:
            continue
        scope = "core" if cache.per_core else "shared"
        level: dict[str, Entry] = {
            "name": (cache.name, f"the OS's level {cache.level} {cache.kind.lower()} cache"),
            "kind": ("cache", "hardware-managed"),
            "scope": (scope, f"measured by accelsim probe on {probe.date}: shared by {cache.shared_by} CPU(s), read "
                             "from /sys/devices/system/cpu/cpu0/cache"),
            "capacity": (units.format_size(cache.size_bytes), f"measured by accelsim probe on {probe.date}: size read "
                                                             "from /sys/devices/system/cpu/cpu0/cache"),
            "read_bandwidth": (_bandwidth(probe.value(f"read_{cache.name}")), seen(f"read_{cache.name}")),
        }
        curve = hit_curve(probe.ladders.get(cache.name, ()))
        if curve:
            level["hit_curve"] = ([{"distance": f"{size} B", "fraction": fraction} for size, fraction in curve],
                                  f"measured by accelsim probe on {probe.date}: from the streaming rates B(d) of the "
                                  f"ladder from this level's working set to the next's, (1/B(d) - 1/B_next) / (1/B_here "
                                  "- 1/B_next), at most 1 and never rising")
        if scope == "shared":
            _cap(level, probe, cache.name, seen)
        out.append(level)
    dram: dict[str, Entry] = {
        "name": ("DRAM", "main memory"),
        "kind": ("memory", "where the weights live"),
        "read_bandwidth": (_bandwidth(probe.value("read_DRAM")), seen("read_DRAM")),
    }
    _cap(dram, probe, "DRAM", seen)
    return out + [dram]


def hit_curve(ladder) -> list[tuple[int, float]]:
    """A cache level's hit curve from its ladder ((bytes, B/s) from its own working set out to the next level's): at a
    reuse distance d, reading at B(d) is reading a fraction h from here at B_here and the rest from the next level at
    B_next, 1/B(d) = h/B_here + (1 - h)/B_next; h is clipped to [0, 1] and made non-increasing (a cache holds no more
    of a longer sweep), 1 at the first point and 0 at the last by construction. Empty where the ladder cannot tell
    the two levels apart (this level no faster than the next by 5%)."""
    if len(ladder) < 2:
        return []
    near, far = ladder[0][1], ladder[-1][1]
    if near <= 1.05 * far:
        return []
    out, held = [], 1.0
    for i, (size, rate) in enumerate(ladder):
        h = 1.0 if i == 0 else 0.0 if i == len(ladder) - 1 else (1 / rate - 1 / far) / (1 / near - 1 / far)
        held = min(held, max(0.0, h))
        out.append((size, round(held, 3)))
    return out


def _cap(level: dict[str, Entry], probe: ProbeResult, name: str, seen: "_Cite") -> None:
    """A shared level's cap for all cores together: what every CPU read at once, when that is more than one thread
    reads alone (else co-tenants on the other CPUs held it down, and one core's rate is all the file says)."""
    figure = f"read_all_{name}"
    if figure in probe.figures and probe.value(figure) > probe.value(f"read_{name}"):
        level["shared_bandwidth"] = (_bandwidth(probe.value(figure)), seen(figure))


class _Cite:
    """``measured by accelsim probe on <date>: <method>`` for a figure of the probe."""

    def __init__(self, probe: ProbeResult):
        self.probe = probe

    def __call__(self, name: str) -> str:
        return f"measured by accelsim probe on {self.probe.date}: {self.probe.figures[name].method}"


def _formats(probe: ProbeResult, fp32: float, seen: _Cite) -> dict[str, Entry]:
    out: dict[str, Entry] = {"fp32": (fp32, seen("fp32_macs_per_cycle"))}
    flags = set(probe.cpu.flags)
    vnni = sorted(flags & {"avx512_vnni", "avx_vnni", "asimddp"})
    if vnni:
        amx = " (AMX int8 tiles are present too; numpy does not use them)" if "amx_int8" in flags else ""
        out["int8"] = (INT8_PER_FP32 * fp32, f"Assumption: derived by accelsim probe on {probe.date} from the ISA flags "
                       f"({', '.join(vnni)}: 4 int8 products per 32-bit lane) as {INT8_PER_FP32} x the measured FP32 "
                       f"rate{amx}; not measured: numpy has no int8 matmul")
    if "avx512_fp16" in flags:
        out["fp16"] = (FP16_PER_FP32 * fp32, f"Assumption: derived by accelsim probe on {probe.date} from the ISA flag "
                       f"avx512_fp16 (twice the FP32 lanes) as {FP16_PER_FP32} x the measured FP32 rate; not measured")
    return out


def _sig(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits (a measured figure has no more)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def _time(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{_sig(seconds * 1e3)} ms"
    return f"{_sig(seconds * 1e6)} us" if seconds >= 1e-6 else f"{_sig(seconds * 1e9)} ns"


def _bandwidth(bytes_per_s: float) -> str:
    return f"{_sig(bytes_per_s / 1e9)} GB/s"


def hardware_yaml(probe: ProbeResult) -> str:
    """The hardware YAML text of :func:`hardware_values`, with a header saying where it came from."""
    cpu = probe.cpu
    lines = [f"# Written by `accelsim probe` on {probe.date}: {cpu.model} ({len(cpu.allowed_cpus)} CPU(s) allowed, "
             f"{'a virtual machine' if cpu.hypervisor else 'no hypervisor flag'}, ISA: {' '.join(cpu.flags) or 'unknown'}).",
             "# Every value was measured on this machine by a micro-benchmark (its method in its comment) or says "
             "Assumption:;",
             "# nothing was fitted to a workload. Single-thread timings are the minimum CPU time of at least 5 repeats, "
             "pinned,",
             "# BLAS on one thread.",
             "name: probed_cpu",
             f"description: \"{cpu.model.replace(chr(34), '')} as measured by accelsim probe on {probe.date}\""]
    for section, entries in hardware_values(probe).items():
        if isinstance(entries, tuple):
            lines.append(_line(section, *entries, 0))
            continue
        lines.append(f"{section}:")
        for key, entry in entries.items():
            if isinstance(entry, dict):
                lines.append(f"  {key}:")
                lines += [_line(sub, value, comment, 4) for sub, (value, comment) in entry.items()]
            elif isinstance(entry, list):
                lines.append(f"  {key}:")
                for item in entry:
                    first, *rest = item.items()
                    lines.append("    - " + _line(first[0], *first[1], 0))
                    lines += [_line(sub, value, comment, 6) for sub, (value, comment) in rest]
            else:
                lines.append(_line(key, *entry, 2))
    return "\n".join(lines) + "\n"


def _line(key: str, value: object, comment: str, indent: int) -> str:
    shown = json.dumps(value) if isinstance(value, list) else f'"{value}"' if isinstance(value, str) and " " in value else value
    return f"{' ' * indent}{key}: {shown}  # {comment}"
