"""Issue 11, machines: the on-device (phone NPU + LPDDR + small CPU) and CPU-only configs: every value sourced or an
assumption, and the CPU's matmul roofline is cores x SIMD width x clock."""

from __future__ import annotations

import dataclasses
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
    """The CPU family: a matmul's compute is MACs over cores x MACs per cycle x clock, after one kernel call; the
    weights it streams overlap it (overlap 1) and add the farthest level's latency."""
    hw = accelsim.load_hardware(repo / "hwconfigs" / "cpu_only.yaml")
    op = Op(0, "mm", "matmul", "core", "encoder", "r", m=64, k=1024, n=1024, weight_bits=8, act_bits=8,
            weights=(("W", 1024 * 1024),))
    compute = 64 * 1024 * 1024 / (16 * 128 * 2.3e9)  # 14.2 us
    cost = op_cost(op, hw, 16)
    assert cost.roofline_s == pytest.approx(compute)
    assert cost.seconds == pytest.approx(0.5e-6 + compute)
    from accelsim.hw.cost import CostTable

    # 1 MiB of INT8 weights from DRAM on 16 cores: 16 x 12 GB/s = 192, capped at 164 GB/s -> 6.4 us, under the compute.
    streamed = CostTable(hw).op(op, 16, (("DRAM", 2.0**20),))
    assert streamed.seconds == pytest.approx(0.5e-6 + compute + 90e-9)
    # One core: 12 GB/s -> 87.4 us of streaming, which the compute (16x longer on one core, 227 us) still hides.
    alone = CostTable(hw).op(op, 1, (("DRAM", 2.0**20),))
    assert alone.seconds == pytest.approx(0.5e-6 + 16 * compute + 90e-9)
    big = dataclasses.replace(op, m=1)  # a matvec: 1/64 of the MACs, the same bytes: bound by DRAM
    assert CostTable(hw).op(big, 1, (("DRAM", 2.0**20),)).seconds == pytest.approx(0.5e-6 + 2.0**20 / 12e9 + 90e-9)
    assert hw.memory.weights_home == "DRAM" and hw.memory.residency == "cache"


def test_phone_npu_runs_both_seeds_with_weights_from_lpddr(repo):
    hw = accelsim.load_hardware(repo / "hwconfigs" / "phone_npu.yaml")
    assert hw.memory.device_bandwidth == pytest.approx(25.6e9)
    r = accelsim.simulate(repo / "workloads" / "conformer_transducer.yaml", hw, keep_records=False,
                          overrides=["workload.utterance.frames=40"])
    assert r.rtf > 0 and r.breakdown_by_resource.get("memory", 0) > 0
