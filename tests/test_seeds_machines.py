"""Issue 11, machines: the on-device (phone NPU + LPDDR + small CPU) and CPU-only configs: every value sourced or an
assumption, and the CPU's matmul roofline is cores x SIMD width x clock."""

from __future__ import annotations

import re

import pytest

import accelsim
from accelsim.graph.ir import Op
from accelsim.hw.cost import op_cost

NEW = ("phone_npu.yaml", "cpu_only.yaml")
SOURCE = re.compile(r"Assumption|calibrated:|JESD|JEDEC|Intel|manual|specification|LPDDR|DDR4|Ice Lake|one \"PE\"|the same|"
                    r"No bus|half|share", re.I)


@pytest.mark.parametrize("name", NEW)
def test_every_value_is_sourced_or_an_assumption(repo, name):
    """A value line carries a comment that cites or assumes, or a comment above it in its group (the lines since the
    last value line that had its own comment, or its section) does."""
    lines = (repo / "hwconfigs" / name).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*([a-z_0-9]+):\s*(\S.*)?$", line)
        if not m or not m.group(2) or m.group(1) in ("name", "description"):
            continue
        above = []
        j = i - 1
        while j >= 0 and not (re.match(r"\s*[a-z_0-9]+:\s*[^\s#]", lines[j]) and "#" in lines[j]) and len(above) < 14:
            above.append(lines[j])
            j -= 1
        if j >= 0:
            above.append(lines[j])
        context = line + "\n" + "\n".join(above)
        assert "#" in context and SOURCE.search(context), f"{name}:{i + 1}: {line.strip()!r} cites no source"


def test_cpu_roofline_is_cores_simd_clock(repo):
    hw = accelsim.load_hardware(repo / "hwconfigs" / "cpu_only.yaml")
    op = Op(0, "mm", "matmul", "core", "encoder", "r", m=64, k=1024, n=1024, weight_bits=8, act_bits=8,
            weights=(("W", 1024 * 1024),))
    cost = op_cost(op, hw, 16)
    assert cost.roofline_s == pytest.approx(64 * 1024 * 1024 / (16 * 128 * 2.5e9))
    # One "PE" per core: m x ceil(n / cores) outputs, each ceil(k / 128) cycles, plus one fill and drain of the
    # 1 x 1 array, 2 x 1 + 1 - 2 = 1 cycle (SCALE-Sim).
    assert cost.seconds == pytest.approx(0.5e-6 + (64 * 64 * 8 + 1) / 2.5e9)
    assert hw.memory.weights_home == "device" and hw.memory.device_bandwidth == pytest.approx(204.8e9)


def test_phone_npu_runs_both_seeds_with_weights_from_lpddr(repo):
    hw = accelsim.load_hardware(repo / "hwconfigs" / "phone_npu.yaml")
    assert hw.memory.device_bandwidth == pytest.approx(25.6e9)
    r = accelsim.simulate(repo / "workloads" / "conformer_transducer.yaml", hw, keep_records=False,
                          overrides=["workload.utterance.frames=40"])
    assert r.rtf > 0 and r.breakdown_by_resource.get("memory", 0) > 0
