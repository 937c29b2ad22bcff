"""A probe's figures as a hardware YAML, every value with its source in a comment.

:func:`hardware_values` is the one mapping from :class:`ProbeResult` to the hardware schema
(``accelsim/spec/hardware.py``); :func:`hardware_yaml` only renders it. Today's schema has no CPU family, so the CPU
is written as ``hwconfigs/cpu_only.yaml`` writes one: a coprocessor of one-PE "arrays" whose SIMD width is the
measured MAC rate, its L2 as the scratchpad, weights in DRAM (``weights_home: device``), and the link a copy in the
same memory. Retargeting the probe to a CPU family means rewriting that one function.
"""

from __future__ import annotations

import math

from accelsim.measure.probe import ProbeResult
from accelsim.spec import units

#: int8 MACs per FP32 MAC of the same vector width (VPDPBUSD / VPDPBUSDS: 4 int8 products per 32-bit lane).
INT8_PER_FP32 = 4
#: FP16 MACs per FP32 MAC of the same vector width (AVX512-FP16: twice the lanes).
FP16_PER_FP32 = 2

Entry = tuple[object, str]  # (value, comment)


def hardware_values(probe: ProbeResult) -> dict[str, dict[str, Entry | dict[str, Entry]]]:
    """The hardware file's sections, each key with its value and the comment that cites it."""
    seen = _Cite(probe)
    fp32 = max(1, round(probe.value("fp32_macs_per_cycle")))
    l2 = _scratchpad(probe)
    overhead = probe.value("call_overhead")
    return {
        "coprocessor": {
            "cores": (1, "Assumption: one thread runs the workload (accelsim measure --threads 1, the default); the "
                         "probe's all-core figures are in accelsim probe --json"),
            "clock": (units.format_frequency(_sig(probe.value("clock"))), seen("clock")),
            "corelets_per_core": (1, "one 'PE' per core (as hwconfigs/cpu_only.yaml): a matmul takes m x n x "
                                     "ceil(k / MACs per cycle) cycles"),
            "pe_rows": (1, "see corelets_per_core"),
            "pe_cols": (1, "see corelets_per_core"),
            "macs_per_cycle": _formats(probe, fp32, seen),
            "sfu_ops_per_cycle": (max(1, round(probe.value("elementwise_ops_per_cycle"))), seen("elementwise_ops_per_cycle")),
            "scratchpad": l2,
            "weight_fraction": (0.5, "Assumption: half of L2 keeps weights reused across ops (the rest holds "
                                     "activations), as hwconfigs/cpu_only.yaml"),
            "dispatch_overhead": (_time(overhead), seen("call_overhead")),
            "launch_overhead": (_time(overhead), "one numpy call per program started; " + seen("call_overhead")),
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
            "weights_home": ("device", "weights live in the CPU's own DRAM"),
            "device_bandwidth": (_bandwidth(probe.value("read_DRAM")), seen("read_DRAM")),
            "residency": ("pinned", "Assumption: a cache keeps weights reused across ops while they fit (L2 as the "
                                    "scratchpad)"),
            "prefetch": ("one_deep", "Assumption: hardware prefetchers stream an op's weights while the op before it "
                                     "runs"),
        },
    }


class _Cite:
    """``measured by accelsim probe on <date>: <method>`` for a figure of the probe."""

    def __init__(self, probe: ProbeResult):
        self.probe = probe

    def __call__(self, name: str) -> str:
        return f"measured by accelsim probe on {self.probe.date}: {self.probe.figures[name].method}"


def _formats(probe: ProbeResult, fp32: int, seen: _Cite) -> dict[str, Entry]:
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


def _scratchpad(probe: ProbeResult) -> Entry:
    caches = {c.name: c for c in probe.cpu.caches}
    l2 = caches.get("L2")
    if l2 is None:
        return ("1 MiB", "Assumption: the OS gave no L2 size (/sys/devices/system/cpu/cpu0/cache)")
    scope = "per core" if l2.per_core else f"shared by {l2.shared_by} CPUs"
    return (units.format_size(l2.size_bytes), f"measured by accelsim probe on {probe.date}: L2 size read from "
                                              f"/sys/devices/system/cpu/cpu0/cache ({scope})")


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
             "# BLAS on one thread. In today's schema a CPU is one core of one-PE arrays (see hwconfigs/cpu_only.yaml).",
             *_not_in_schema(probe),
             "name: probed_cpu",
             f"description: \"{cpu.model.replace(chr(34), '')} as measured by accelsim probe on {probe.date}\""]
    for section, entries in hardware_values(probe).items():
        lines.append(f"{section}:")
        for key, entry in entries.items():
            if isinstance(entry, dict):
                lines.append(f"  {key}:")
                lines += [_line(sub, value, comment, 4) for sub, (value, comment) in entry.items()]
            else:
                lines.append(_line(key, *entry, 2))
    return "\n".join(lines) + "\n"


def _not_in_schema(probe: ProbeResult) -> list[str]:
    """The memory levels' measured read bandwidths, which today's schema has no place for, as comments."""
    levels = ", ".join(f"{level} {_sig(probe.value(f'read_{level}') / 1e9, 3)} GB/s ({units.format_size(size)} read)"
                       for level, size in probe.working_sets.items())
    return [f"# Not in today's schema: single-thread read bandwidth by level: {levels}; the rest in accelsim probe --json."]


def _line(key: str, value: object, comment: str, indent: int) -> str:
    shown = f'"{value}"' if isinstance(value, str) and " " in value else value
    return f"{' ' * indent}{key}: {shown}  # {comment}"
