"""Schema of a hardware YAML: a device of some family (a systolic coprocessor, a CPU or a GPU), a host CPU, the link
between them, and the memory hierarchy where weights live."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from accelsim.spec.base import Bytes, BytesPerSecond, Hertz, Seconds, Strict, Text

#: Arithmetic formats a device may offer, narrowest first, with the operand bits each holds (TF32: 1 sign, 8 exponent
#: and 10 mantissa bits, so FP32 operands are not held exactly: a 32-bit matmul runs on FP32 units, not on TF32).
FORMAT_BITS: dict[str, int] = {"int2": 2, "int4": 4, "int8": 8, "hfp8": 8, "fp8": 8, "fp16": 16, "bf16": 16,
                               "tf32": 19, "fp32": 32}


def _known_format_names(value: dict) -> None:
    unknown = sorted(set(value) - set(FORMAT_BITS))
    if unknown:
        raise ValueError(f"unknown arithmetic format(s) {unknown}; expected some of {list(FORMAT_BITS)}")


def _mac_rates(value: dict) -> dict:
    """A device's MAC rates by format: known formats, at least one."""
    _known_format_names(value)
    if not value:
        raise ValueError("must list at least one arithmetic format")
    return value


Rate = Annotated[float, Field(gt=0, le=10**9)]
#: Special functions a device may evaluate at a rate of their own: sigmoid, tanh, exp, gather.
SpecialFunction = Literal["sigmoid", "tanh", "exp", "gather"]
#: Special-function evaluations per cycle per core, by function.
SpecialRates = dict[SpecialFunction, Rate]
#: ... on a CPU, also the element-wise loops an eager runtime runs slower than a flat one: an operand broadcast along
#: the rows (a bias, a norm's statistics) and a reduction along them (a mean, a softmax's max and sum).
CpuSpecialRates = dict[Literal[SpecialFunction, "broadcast", "reduce"], Rate]


class CoprocessorSpec(Strict):
    """The accelerator: identical cores of systolic PE arrays, each with a scratchpad."""

    cores: int = Field(gt=0, le=65_536, description="Number of identical compute cores; at most 65,536.")
    clock: Hertz = Field(description="Core clock, e.g. '1.6 GHz'; 1 MHz to 100 GHz.")
    corelets_per_core: int = Field(gt=0, le=65_536, description="PE arrays (corelets) per core; at most 65,536.")
    pe_rows: int = Field(gt=0, le=65_536, description="PE rows per corelet; a matmul's batch (M) is mapped over rows; at most 65,536.")
    pe_cols: int = Field(gt=0, le=65_536, description="PE columns per corelet; a matmul's output features (N) are mapped over columns; "
                                                      "at most 65,536.")
    macs_per_cycle: Annotated[dict[str, Annotated[int, Field(gt=0, le=10**9)]], AfterValidator(_mac_rates)] = Field(
        description="Peak multiply-accumulates per cycle per core, by arithmetic format (int2, int4, int8, hfp8, fp16, fp32); "
                    "each at most 1,000,000,000."
    )
    sfu_ops_per_cycle: int = Field(
        gt=0, le=10**9,
        description="Element-wise operations (activation functions, products, quantizers) per cycle per core; at most 1,000,000,000.",
    )
    scratchpad: Bytes | None = Field(
        None, description="On-chip scratchpad per core, e.g. '2 MiB' (a first memory level, kind scratchpad, scope core); "
                          "leave it out when memory.levels describes the scratchpad; 1 B to 1 PiB.")
    weight_fraction: float | None = Field(
        None, gt=0, le=1,
        description="Share of each scratchpad that can keep weights resident across ops (the rest holds activations and stream buffers); "
                    "with coprocessor.scratchpad; more than 0, at most 1.",
    )
    dataflow: Literal["output_stationary", "weight_stationary", "input_stationary"] = Field(
        "output_stationary",
        description="What stays in the PEs of each array (SCALE-Sim's dataflows): 'output_stationary' maps a matmul's "
                    "batch rows and output features onto the array and streams the reduction; 'weight_stationary' maps "
                    "reduction x output features and streams the batch; 'input_stationary' maps reduction x batch and "
                    "streams the output features.")
    fold_overlap: bool = Field(
        True, description="Successive folds of a matmul pipeline through the array (fill and drain paid once per call); "
                          "false: every fold pays its own fill and drain (2 x pe_rows + pe_cols - 2 cycles).")
    dispatch_overhead: Seconds = Field(description="Fixed cost of issuing one op within a running program, e.g. '1 us'; at most 1 hour.")
    launch_overhead: Seconds = Field(
        description="Cost of the host starting one program on the coprocessor (descriptors, doorbell, completion): "
                    "paid once for the encoder graph and once per decode iteration; at most 1 hour."
    )

    lut_macs_per_cycle: int | None = Field(
        None, gt=0, le=10**9,
        description="Look-up-table MACs per cycle per core: units that multiply activations by codebook centroids addressed "
                    "directly by k-bit weight indices (LUT/GQ layers); unset: the chip has none and codebook weights are "
                    "decoded to a native format; at most 1,000,000,000.")
    lut_index_bits: int = Field(4, ge=1, le=8, description="Widest weight index the look-up-table MACs take; 1 to 8.")
    lut_act_bits: int = Field(8, ge=1, le=16, description="Widest activation the look-up-table MACs take; 1 to 16.")
    codebook_decode: Literal["sfu", "load_path"] = Field(
        "sfu",
        description="Where codebook (LUT/GQ) weights are decoded to centroids when they do not run on look-up-table MACs: "
                    "'sfu': one special-function-unit op per weight each time an op uses them; 'load_path': by a table in "
                    "the weight load path as they arrive (no compute time; the fetch still carries k-bit indices).")

    @model_validator(mode="after")
    def _lanes_fit(self) -> "CoprocessorSpec":
        pes = self.corelets_per_core * self.pe_rows * self.pe_cols
        rates = dict(self.macs_per_cycle)
        if self.lut_macs_per_cycle is not None:
            rates["lut"] = self.lut_macs_per_cycle
        for fmt, macs in rates.items():
            if macs % pes:
                raise ValueError(
                    f"{'lut_macs_per_cycle' if fmt == 'lut' else 'macs_per_cycle.' + fmt}={macs} is not a multiple of the {pes} PEs per core "
                    f"(corelets_per_core x pe_rows x pe_cols); each PE must do a whole number of MACs per cycle"
                )
        return self


class CpuSpec(Strict):
    """A CPU that runs the model's ops itself (``family: cpu``): cores with vector and matrix units, streaming weights
    through the caches of memory.levels."""

    cores: int = Field(gt=0, le=65_536, description="Cores that run the model's ops; at most 65,536.")
    clock: Hertz = Field(description="Core clock while running the ops (all-core, with the vector units busy), e.g. "
                                     "'2.4 GHz'; 1 MHz to 100 GHz.")
    macs_per_cycle: Annotated[dict[str, Annotated[float, Field(gt=0, le=10**9)]], AfterValidator(_mac_rates)] = Field(
        description="Multiply-accumulates per cycle per core that a matmul sustains, by arithmetic format (fp32, bf16, "
                    "fp16, int8: FMA, AVX-512, VNNI or AMX units); each more than 0, at most 1,000,000,000.")
    vector_ops_per_cycle: float = Field(
        gt=0, le=10**9, description="Element-wise operations per cycle per core (additions, products, quantizers) from "
                                    "the SIMD width; more than 0, at most 1,000,000,000.")
    special_ops_per_cycle: CpuSpecialRates = Field(
        default_factory=dict,
        description="Evaluations per cycle per core of special functions, as the runtime computes them: sigmoid, tanh, "
                    "exp, gather (a data rearrangement such as an im2col copy), and an eager runtime's element-wise "
                    "operations with an operand broadcast along the rows (broadcast) or reducing along them (reduce); "
                    "one not listed runs at vector_ops_per_cycle; each more than 0, at most 1,000,000,000.")
    call_overhead: Seconds = Field(description="The runtime's fixed cost of one op (a kernel call), e.g. '1 us'; at most 1 hour.")
    matmul_call_overhead: Seconds | None = Field(
        None, description="The runtime's fixed cost of one matmul call (its matmul library's dispatch), where it differs "
                          "from call_overhead; unset: call_overhead; at most 1 hour.")
    view_overhead: Seconds = Field(
        "0 s", description="The runtime's cost of taking one view of an array (a row, a slice) between its calls, as an "
                           "eager runtime does (an op's ``views``); at most 1 hour.")
    pack_bandwidth: BytesPerSecond | None = Field(
        None, description="Bytes per second at which the matmul library copies a matmul's second operand (its weights, "
                          "or an activation) into its packed layout, as a GEMM of more than one row does at every call "
                          "before it computes (a single row runs as a matrix-vector product and packs nothing; a batch of "
                          "per-head products is charged one operand, a shortcut); unset: packing is not charged (a "
                          "runtime that packs its weights once); 1 kbit/s to 1 Pbit/s.")
    launch_overhead: Seconds = Field("0 s", description="Starting one program (the encoder graph, a decode iteration), "
                                                        "beyond its ops' calls; at most 1 hour.")


class GpuRuntimeSpec(Strict):
    """The GPU software stack (CUDA runtime, GEMM library, graphs): one file shared by every GPU config
    (``gpu.runtime: runtime.yaml``), so that what is fitted on one GPU carries to the others."""

    tensor_efficiency: float = Field(
        gt=0, le=1, description="Share of its tensor cores' peak MAC rate one SM sustains on a GEMM tile whose operands "
                                "arrive in time (instruction issue, register and shared-memory pressure, clock under "
                                "load); more than 0, at most 1.")
    tiles: list[Annotated[list[Annotated[int, Field(gt=0, le=4096)]], Field(min_length=2, max_length=2)]] = Field(
        min_length=1, max_length=64,
        description="Output tile shapes [rows, columns] the GEMM library chooses from, one tile per SM at a time; "
                    "each side 1 to 4,096.")
    max_split_k: int = Field(
        1, gt=0, le=64, description="Most slices a GEMM's reduction may be split into to fill the SMs (split-K), each "
                                    "slice's partial sums added by the CUDA cores; at most 64.")
    kernel_overhead: Seconds = Field(
        description="Device time of one kernel beyond its work: the block scheduler starting it, ramp-up and tail "
                    "before the next kernel of the stream starts; at most 1 hour.")
    launch_overhead: Seconds = Field(
        description="Host time to launch one kernel through the CUDA API (without graphs, the host cannot issue "
                    "kernels faster than this); at most 1 hour.")
    cuda_graphs: bool = Field(
        description="Each program (an encoder, a decode iteration) is captured as one CUDA graph: one launch for all "
                    "its kernels, which then pay only kernel_overhead.")
    graph_launch: Seconds = Field(description="Host time to launch one CUDA graph; at most 1 hour.")
    grid_sync: Seconds = Field(
        description="One grid-wide barrier of a persistent kernel: the step-to-step cost of an LSTM whose weights stay "
                    "in the SMs (runtime.lstm_kernel persistent); at most 1 hour.")
    query_overhead: Seconds = Field(
        "0 s", description="The serving harness's host time per query (load generator, audio preprocessing pipeline, "
                           "response) before and after the sample's programs: part of a query's latency, overlapped "
                           "with the device's work when queries are batched; at most 1 hour.")

    @field_validator("tiles")
    @classmethod
    def _distinct(cls, value: list) -> list:
        if len({tuple(tile) for tile in value}) != len(value):
            raise ValueError("tile shapes must differ from one another")
        return value


class GpuSpec(Strict):
    """A GPU (``family: gpu``): streaming multiprocessors (SMs) with tensor cores and CUDA cores; its register files
    and shared memory, L2 and DRAM are the levels of memory.levels."""

    sms: int = Field(gt=0, le=65_536, description="Streaming multiprocessors; at most 65,536.")
    clock: Hertz = Field(description="SM clock under a sustained tensor-core load (the boost clock unless power "
                                     "limits it), e.g. '1.41 GHz'; 1 MHz to 100 GHz.")
    tensor_macs_per_cycle: dict[str, Annotated[int, Field(gt=0, le=10**7)]] = Field(
        description="Dense tensor-core multiply-accumulates per cycle per SM, by format (fp16, bf16, tf32, int8, fp8, "
                    "int4): the datasheet's peak over 2 x SMs x the clock it is quoted at; each 1 to 10,000,000.")
    fp32_macs_per_cycle: int = Field(
        gt=0, le=10**7, description="FP32 fused multiply-adds per cycle per SM on the CUDA cores (FP32 matmuls, and "
                                    "element-wise work at one operation per lane and cycle); 1 to 10,000,000.")
    special_ops_per_cycle: SpecialRates = Field(
        default_factory=dict,
        description="Evaluations per cycle per SM of special functions on its special-function units: sigmoid, tanh, "
                    "exp, and gather (a data rearrangement); one not listed runs at fp32_macs_per_cycle; each more "
                    "than 0, at most 1,000,000,000.")
    runtime: GpuRuntimeSpec = Field(
        description="The GPU software stack's figures: the name of the shared runtime file beside the config (e.g. "
                    "'runtime.yaml'), or its fields inline.")
    peer_bandwidth: BytesPerSecond | None = Field(
        None, description="GPU-to-GPU bandwidth per direction (NVLink, or PCIe peer to peer) for boxes of several "
                          "GPUs; a single-GPU run does not use it; 1 kbit/s to 1 Pbit/s.")

    @field_validator("tensor_macs_per_cycle")
    @classmethod
    def _known_formats(cls, value: dict[str, int]) -> dict[str, int]:
        _mac_rates(value)
        if "fp32" in value:
            raise ValueError("fp32 runs on the CUDA cores: give it as gpu.fp32_macs_per_cycle")
        return value

    @property
    def macs_per_cycle(self) -> dict[str, int]:
        """Every format's MACs per cycle per SM: the tensor cores', and FP32 on the CUDA cores."""
        return {**self.tensor_macs_per_cycle, "fp32": self.fp32_macs_per_cycle}


class PowerSpec(Strict):
    """The device's power figures, for energy per sample from its busy share (optional)."""

    tdp_W: float = Field(gt=0, le=1_000_000, description="Board (or module) power at full load, watts: the datasheet's "
                                                          "TDP or maximum power; at most 1,000,000.")
    idle_W: float = Field(ge=0, le=1_000_000, description="Power while idle, watts; at most 1,000,000.")

    @model_validator(mode="after")
    def _idle_below_tdp(self) -> "PowerSpec":
        if self.idle_W > self.tdp_W:
            raise ValueError(f"idle_W {self.idle_W:g} is above tdp_W {self.tdp_W:g}")
        return self


class HostSpec(Strict):
    """The host CPU that runs the beam search bookkeeping (score fusion, sorting, merging)."""

    op_overhead: Seconds = Field(description="Fixed cost of each host step (a call into the search loop); at most 1 hour.")
    fuse_per_element: Seconds = Field(description="Time to fuse one candidate's RNN-T and LM scores (Eq. 1); at most 1 hour.")
    sort_per_element: Seconds = Field(description="Time per candidate per log2(k) of a top-k selection of k (the beam) among the candidates "
                                                  "(a heap of size k: one compare-and-sift per candidate and level); at most 1 hour.")
    merge_per_element: Seconds = Field(description="Time to hash and merge one surviving candidate by label prefix; at most 1 hour.")
    memory_bandwidth: BytesPerSecond = Field(
        "10 GB/s", description="Host memory bandwidth of the search loop's copies of hypothesis states (one core's memcpy "
                               "of many small buffers, read plus write counted once); 1 kbit/s to 1 Pbit/s.")


class LinkSpec(Strict):
    """The host <-> coprocessor link; each direction is an independent channel of the same bandwidth."""

    bandwidth: BytesPerSecond = Field(description="Signalling rate of one lane, e.g. '32 Gbps'; 1 kbit/s to 1 Pbit/s.")
    lanes: int = Field(1, gt=0, le=1024, description="Lanes per direction; the link's raw bandwidth is lanes x bandwidth; at most 1,024.")
    efficiency: float = Field(1.0, ge=0.01, le=1, description="Share of the raw bandwidth left after line encoding and protocol overhead; "
                                                            "0.01 to 1.")
    latency: Seconds = Field(description="Fixed cost of one transfer (DMA setup and flight time), e.g. '1 us'; at most 1 hour.")
    queue_depth: int = Field(
        1, gt=0, le=1024,
        description="Transfers the DMA engine of one direction keeps in flight. 1: a transfer's fixed latency blocks the "
                    "link (latency, then its bytes, then the next transfer); more: a transfer's latency (descriptor "
                    "fetch, flight) overlaps the data of the one before it, and the link is held only while bytes move; "
                    "at most 1,024.")


class UplinkSpec(Strict):
    """A box's link from its switch to the host, which every device's host traffic crosses."""

    bandwidth: BytesPerSecond = Field(description="Signalling rate of one lane, e.g. '32 Gbps'; 1 kbit/s to 1 Pbit/s.")
    lanes: int = Field(1, gt=0, le=1024, description="Lanes per direction; the uplink's raw bandwidth is lanes x bandwidth; "
                                                     "at most 1,024.")
    efficiency: float = Field(1.0, ge=0.01, le=1, description="Share of the raw bandwidth left after line encoding and "
                                                             "protocol overhead; 0.01 to 1.")


class BoxSpec(Strict):
    """Several identical devices in one server: each with its own cores, link to the switch and device memory, all
    sharing the host CPU and the switch's uplink to the host, and serving one queue."""

    devices: int = Field(gt=0, le=64, description="Identical devices in the box (each as the rest of this file describes "
                                                  "it); at most 64.")
    uplink: UplinkSpec = Field(description="The switch's link to the host, shared by every device's transfers and weight "
                                           "fetches over its own link.")


class HitPoint(Strict):
    """One point of a cache's hit curve (``memory.levels[].hit_curve``)."""

    distance: Bytes = Field(description="A reuse distance: bytes read since the data was last read, e.g. '16 MiB'.")
    fraction: float = Field(ge=0, le=1, description="The fraction of the data this level or a nearer one still serves "
                                                    "at that distance; 0 to 1.")


class LevelSpec(Strict):
    """One level of the memory hierarchy (``memory.levels``, nearest the compute first)."""

    name: Text = Field(description="A short name, unique in the hierarchy (scratchpad, L2, L3, DRAM, HBM, host).")
    kind: Literal["scratchpad", "cache", "memory"] = Field(
        description="'scratchpad': on-chip memory the software manages (the residency policy decides which weights stay); "
                    "'cache': hardware-managed, least recently used data leaves first (or as its hit_curve says); 'memory': where data lives "
                    "(DRAM, HBM, LPDDR, or host memory behind the link), the last levels.")
    capacity: Bytes | None = Field(
        None, description="Bytes the level holds (per core when scope is 'core'), e.g. '2 MiB'; needed for scratchpads and "
                          "caches; a memory without one holds everything; 1 B to 1 PiB.")
    scope: Literal["core", "shared"] = Field(
        "shared", description="'core': each core has its own (capacity and read_bandwidth per core); 'shared': one for "
                              "the whole device.")
    read_bandwidth: BytesPerSecond | None = Field(
        None, description="Bytes per second one core reads from the level (a shared level's: what one core can draw); "
                          "unset: not a limit the model charges (e.g. a scratchpad feeding arrays whose cycles already count "
                          "it); 1 kbit/s to 1 Pbit/s.")
    shared_bandwidth: BytesPerSecond | None = Field(
        None, description="A shared level's bandwidth for all cores together (unset: cores x read_bandwidth); "
                          "1 kbit/s to 1 Pbit/s.")
    latency: Seconds = Field("0 s", description="Time to the first byte of a read from the level, paid once per streaming "
                                                "op or fetch; at most 1 hour.")
    energy_pJ_per_bit: float | None = Field(
        None, ge=0, le=1_000_000, description="Energy per bit read from the level, pJ (optional; then counted in the "
                                             "energy model's 'memory' part); at most 1,000,000.")
    weight_fraction: float | None = Field(
        None, gt=0, le=1, description="A scratchpad's share that keeps weights resident across ops (the rest holds "
                                      "activations and stream buffers); more than 0, at most 1.")
    via_link: bool = Field(
        False, description="Host memory reached over the host link: its bandwidth and latency are the link's (a memory "
                           "level, the last one).")
    hit_curve: list[HitPoint] | None = Field(
        None, description="A cache's measured hit curve: {distance, fraction} points, the fraction of the bytes "
                          "read again after that many other bytes (per core for scope 'core') that this level or a nearer "
                          "one still serves; distances increasing, fractions 0 to 1 and not increasing, the last 0. "
                          "Between points the fraction is interpolated in log distance; before the first it is the first's, "
                          "after the last 0. Unset: least recently used at tensor granularity (1 up to the capacity, 0 beyond). "
                          "`accelsim probe` measures one.")

    @model_validator(mode="after")
    def _consistent(self) -> "LevelSpec":
        if self.kind in ("scratchpad", "cache") and self.capacity is None:
            raise ValueError(f"level {self.name!r}: a {self.kind} needs a capacity")
        if (self.kind == "scratchpad") != (self.weight_fraction is not None):
            raise ValueError(f"level {self.name!r}: weight_fraction goes with a scratchpad, and a scratchpad needs one")
        if self.via_link and (self.kind != "memory" or self.read_bandwidth is not None):
            raise ValueError(f"level {self.name!r}: via_link is host memory (kind 'memory') whose bandwidth is the link's; "
                             "leave read_bandwidth out")
        if self.shared_bandwidth is not None and self.scope != "shared":
            raise ValueError(f"level {self.name!r}: shared_bandwidth goes with scope 'shared'")
        if self.hit_curve is not None:
            _check_hit_curve(self)
        return self


def _check_hit_curve(level: "LevelSpec") -> None:
    assert level.hit_curve is not None
    curve = level.hit_curve
    where = f"level {level.name!r}: hit_curve"
    if level.kind != "cache":
        raise ValueError(f"{where} goes with kind 'cache', not {level.kind!r}")
    if len(curve) < 2:
        raise ValueError(f"{where} needs at least two {{distance, fraction}} points")
    for before, after in zip(curve, curve[1:]):
        if after.distance <= before.distance:
            raise ValueError(f"{where}: distances must increase ({after.distance:.0f} B after {before.distance:.0f} B)")
        if after.fraction > before.fraction:
            raise ValueError(f"{where}: fractions must not increase ({after.fraction} at {after.distance:.0f} B after "
                             f"{before.fraction} at {before.distance:.0f} B)")
    if curve[-1].fraction != 0:
        raise ValueError(f"{where}: the last point's fraction must be 0 (measure out to where the level holds nothing)")


_KIND_ORDER = {"scratchpad": 0, "cache": 1, "memory": 2}


class MemorySpec(Strict):
    """Where weights live, which stay near the compute, and how an op reads them."""

    weights_home: Text = Field(
        description="Where weights live: with memory.levels, the name of a 'memory' level; without, 'host' (host memory, "
                    "across the link) or 'device' (memory attached to the coprocessor, at device_bandwidth).")
    device_bandwidth: BytesPerSecond | None = Field(
        None, description="Bandwidth of device memory when weights_home is 'device' and there is no memory.levels "
                          "(with levels, give it as the memory level's read_bandwidth); 1 kbit/s to 1 Pbit/s."
    )
    levels: list[LevelSpec] | None = Field(
        None, description="The memory hierarchy, nearest the compute first: scratchpads and caches (each larger than the "
                          "one before), then memories. Unset: coprocessor.scratchpad, then device memory or host memory "
                          "across the link, as weights_home says.")
    residency: Literal["pinned", "per_op", "cache"] = Field(
        "pinned",
        description="'pinned': weights used more than once stay in the scratchpads while they fit (the scratchpad's weight_fraction); "
                    "'per_op': every op fetches its weights, as a runtime that runs each op as its own kernel does; "
                    "'cache': every op reads its weights from the nearest cache level that holds everything read since "
                    "their last use (least recently used out first), else from where they live (with no cache level: "
                    "always from there); a level with a hit_curve serves the part its curve gives, the next levels "
                    "the rest.",
    )
    prefetch: Literal["one_deep", "on_demand"] = Field(
        "one_deep",
        description="When an op's weight fetch may start: 'one_deep' once all its dependencies have started (double "
                    "buffering: the fetch overlaps the op before it); 'on_demand' only once they have all ended.",
    )
    overlap: float | None = Field(
        None, ge=0, le=1,
        description="Weights streamed while the op computes, from the level they come from: the op takes max(compute, "
                    "streaming) + (1 - overlap) x min(compute, streaming) + the level's latency (1: fully overlapped, as "
                    "CPUs and GPUs stream through their caches). Unset: fetched into the scratchpad before the op runs "
                    "(a job of its own on the link or device memory); 0 to 1.")

    @model_validator(mode="after")
    def _consistent(self) -> "MemorySpec":
        if self.levels is None:
            if self.weights_home not in ("host", "device"):
                raise ValueError(f"weights_home {self.weights_home!r}: without memory.levels it is 'host' or 'device'")
            if self.weights_home == "device" and self.device_bandwidth is None:
                raise ValueError("weights_home is 'device' but device_bandwidth is not given")
            if self.overlap is not None and self.weights_home == "host":
                raise ValueError("overlap streams weights during an op, which needs them in device memory, not across the link")
            return self
        _check_levels(self.levels)
        if self.device_bandwidth is not None:
            raise ValueError("device_bandwidth: with memory.levels, give device memory's bandwidth as its level's read_bandwidth")
        home = {level.name: level for level in self.levels}.get(self.weights_home)
        if home is None or home.kind != "memory":
            names = [level.name for level in self.levels if level.kind == "memory"]
            raise ValueError(f"weights_home {self.weights_home!r} is not a memory level; expected one of {names}")
        if self.overlap is not None and home.via_link:
            raise ValueError("overlap streams weights during an op, which needs them in device memory, not across the link")
        kinds = {level.kind for level in self.levels}
        if self.residency != "cache" and "scratchpad" not in kinds:
            raise ValueError(f"residency {self.residency!r} keeps weights in a scratchpad; the hierarchy has none "
                             "(use residency 'cache')")
        return self


def _check_levels(levels: list[LevelSpec]) -> None:
    """Names unique; scratchpads, then caches, then memories; each scratchpad or cache larger than the one before
    (per core); host memory across the link last."""
    names = [level.name for level in levels]
    if len(set(names)) != len(names):
        raise ValueError(f"level names must be unique, got {names}")
    for before, after in zip(levels, levels[1:]):
        if _KIND_ORDER[after.kind] < _KIND_ORDER[before.kind]:
            raise ValueError(f"levels out of order: {before.kind} {before.name!r} before {after.kind} {after.name!r} "
                             "(nearest the compute first: scratchpads, caches, memories)")
        if before.capacity is not None and after.capacity is not None and after.capacity <= before.capacity:
            raise ValueError(f"levels out of order: {after.name!r} ({after.capacity:.0f} B) is not larger than "
                             f"{before.name!r} ({before.capacity:.0f} B) before it")
        if before.via_link:
            raise ValueError(f"level {before.name!r} across the link must be the last level")
    if sum(level.kind == "scratchpad" for level in levels) > 1:
        raise ValueError("at most one scratchpad level")


PicoJoules = Annotated[float, Field(ge=0, le=1_000_000)]


class EnergySpec(Strict):
    """Energy of the machine's work (optional): per MAC by arithmetic format, per element-wise op, per bit moved,
    and power of the host (busy, idle) and of the coprocessor while it is powered (static)."""

    mac_pJ: dict[str, PicoJoules] = Field(
        description="Energy per multiply-accumulate in picojoules, by arithmetic format (int2, int4, int8, hfp8, fp16, fp32); "
                    "a run that uses a format without one is an error; each 0 to 1,000,000.")
    sfu_op_pJ: PicoJoules = Field(description="Energy per element-wise operation on the special-function units, pJ; at most 1,000,000.")
    scratchpad_pJ_per_bit: PicoJoules = Field(description="Energy per bit of weights written into the scratchpads when fetched, pJ; at most 1,000,000.")
    link_pJ_per_bit: PicoJoules = Field(description="Energy per bit crossing the host link (or read from device memory), pJ; at most 1,000,000.")
    host_busy_W: float = Field(ge=0, le=1_000_000, description="Host CPU power while it runs the search loop, watts; at most 1,000,000.")
    host_idle_W: float = Field(ge=0, le=1_000_000, description="Host CPU power while it waits for the coprocessor, watts; at most 1,000,000.")
    coprocessor_static_W: float = Field(0.0, ge=0, le=1_000_000, description="Coprocessor power drawn whether or not it computes "
                                                                              "(leakage, clocks), watts; at most 1,000,000.")

    @field_validator("mac_pJ")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        _known_format_names(value)
        return value


class HardwareSpec(Strict):
    """A whole machine: what `accelsim run` simulates a workload on."""

    name: Text = Field(description="A short name for reports.")
    description: Text = Field("", description="Free text.")
    family: Literal["systolic", "cpu", "gpu"] = Field(
        "systolic", description="The device's hardware family, which costs its ops: 'systolic', a coprocessor of cores "
                                "of systolic PE arrays with scratchpads (the coprocessor section); 'cpu', a CPU's cores "
                                "(the cpu section); 'gpu', a GPU's SMs (the gpu section).")
    coprocessor: CoprocessorSpec | None = Field(None, description="The accelerator of family 'systolic': cores of PE "
                                                                 "arrays with scratchpads.")
    cpu: CpuSpec | None = Field(None, description="The CPU of family 'cpu'.")
    gpu: GpuSpec | None = Field(None, description="The GPU of family 'gpu'.")
    host: HostSpec = Field(description="The host CPU running the beam search bookkeeping.")
    link: LinkSpec = Field(description="The host <-> coprocessor link (each direction its own channel).")
    memory: MemorySpec = Field(description="Where weights live and which stay on chip.")
    energy: EnergySpec | None = Field(None, description="Energy per operation and per bit, and host power (optional: "
                                                        "without it no energy is reported).")
    box: BoxSpec | None = Field(None, description="A server of several such devices sharing one host and one uplink to it "
                                                  "(serving only; unset: one device).")
    power: PowerSpec | None = Field(None, description="The device's full-load and idle power (optional): `accelsim "
                                                      "mlperf` reports energy per sample from them.")

    @property
    def device_cores(self) -> int:
        """The identical cores (SMs) of the family's device."""
        if self.family == "gpu":
            return self.gpu.sms  # type: ignore[union-attr]
        return getattr(self, SECTIONS[self.family]).cores

    @model_validator(mode="after")
    def _family_and_memory(self) -> "HardwareSpec":
        section = SECTIONS[self.family]
        for other in SECTIONS.values():
            if (getattr(self, other) is not None) != (other == section):
                raise ValueError(f"family {self.family!r} is described by a {section} section"
                                 + (f", not a {other} one" if other != section else f"; add {section}:"))
        levels = self.memory.levels
        if self.family == "systolic":
            cop = self.coprocessor
            assert cop is not None
            if levels is None and (cop.scratchpad is None or cop.weight_fraction is None):
                raise ValueError("coprocessor.scratchpad and coprocessor.weight_fraction are needed without memory.levels")
            if levels is not None and (cop.scratchpad is not None or cop.weight_fraction is not None):
                raise ValueError("with memory.levels, describe the scratchpad as a level (kind scratchpad), not as "
                                 "coprocessor.scratchpad / weight_fraction")
        elif levels is None or self.memory.overlap is None:
            raise ValueError(f"a {self.family} streams weights through its caches: give memory.levels and memory.overlap")
        elif self.family == "gpu" and self.memory.residency != "cache":
            raise ValueError("a gpu's L2 is a hardware cache: give memory.residency 'cache'")
        return self


#: The section that describes each family's device.
SECTIONS = {"systolic": "coprocessor", "cpu": "cpu", "gpu": "gpu"}
