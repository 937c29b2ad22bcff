"""What the operating system says about the local CPU: model, CPUs, caches (per core or shared) and ISA flags.

Read from /proc/cpuinfo and /sys/devices/system/cpu (the files ``lscpu`` itself reads), so nothing needs to be
installed. Whatever is not there (another OS, a container hiding sysfs) is left empty and said in ``notes``.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accelsim.measure.harness import allowed_cpus

SYS_CPU = Path("/sys/devices/system/cpu")

#: ISA extensions that matter for matmul and element-wise throughput, as /proc/cpuinfo names them (x86 and Arm).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "sve", "sve2")


@dataclass(frozen=True)
class Cache:
    """One data (or unified) cache level as one CPU sees it."""

    level: int
    kind: str  # Data | Unified
    size_bytes: int
    shared_by: int  # logical CPUs sharing one instance
    per_core: bool  # shared only by the threads of one core

    @property
    def name(self) -> str:
        return f"L{self.level}"


@dataclass(frozen=True)
class CpuInfo:
    model: str
    vendor: str
    architecture: str
    logical_cpus: int
    allowed_cpus: tuple[int, ...]
    threads_per_core: int
    nominal_mhz: float | None  # /proc/cpuinfo "cpu MHz" (on a VM often the nominal clock, not the real one)
    hypervisor: bool
    flags: tuple[str, ...]  # the ISA_FLAGS present
    caches: tuple[Cache, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        out = asdict(self)
        out["allowed_cpus"] = list(self.allowed_cpus)
        out["caches"] = [asdict(c) | {"name": c.name} for c in self.caches]
        return out


def describe_cpu() -> CpuInfo:
    """The local CPU, from /proc/cpuinfo and sysfs."""
    notes: list[str] = []
    first = _first_cpuinfo_block(notes)
    flags = set((first.get("flags") or first.get("Features") or "").split())
    threads = _threads_per_core()
    mhz = first.get("cpu MHz")
    return CpuInfo(
        model=first.get("model name") or first.get("Model") or platform.processor() or "unknown",
        vendor=first.get("vendor_id") or first.get("CPU implementer") or "unknown",
        architecture=platform.machine(),
        logical_cpus=os.cpu_count() or 1,
        allowed_cpus=allowed_cpus(),
        threads_per_core=threads,
        nominal_mhz=float(mhz) if mhz else None,
        hypervisor="hypervisor" in flags,
        flags=tuple(f for f in ISA_FLAGS if f in flags),
        caches=_caches(threads, notes),
        notes=tuple(notes),
    )


def _first_cpuinfo_block(notes: list[str]) -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        notes.append("/proc/cpuinfo not readable: model, flags and nominal clock unknown")
        return {}
    out: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def _threads_per_core() -> int:
    try:
        return len(_cpu_set((SYS_CPU / "cpu0/topology/thread_siblings_list").read_text()))
    except (OSError, ValueError):
        return 1


def _caches(threads_per_core: int, notes: list[str]) -> tuple[Cache, ...]:
    found = []
    for index in sorted((SYS_CPU / "cpu0/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            if kind == "Instruction":
                continue
            shared = len(_cpu_set((index / "shared_cpu_list").read_text()))
            found.append(Cache(int((index / "level").read_text()), kind, _size((index / "size").read_text()),
                               shared, shared <= threads_per_core))
        except (OSError, ValueError):
            continue
    if not found:
        notes.append("no cache sizes in /sys/devices/system/cpu/cpu0/cache: cache levels unknown")
    return tuple(sorted(found, key=lambda c: c.level))


def _size(text: str) -> int:
    text = text.strip()
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:].upper(), 1)
    return int(text.rstrip("KMGkmg")) * scale


def _cpu_set(text: str) -> set[int]:
    """'0-3,8' -> {0, 1, 2, 3, 8}."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if part:
            low, _, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    return cpus
