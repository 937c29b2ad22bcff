"""Schema of a hardware YAML: a coprocessor, a host CPU, the link between them, and where weights live."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from accelsim.spec.base import Bytes, BytesPerSecond, Hertz, Seconds, Strict, Text

#: Arithmetic formats a coprocessor may offer, narrowest first, with the operand bits each holds.
FORMAT_BITS: dict[str, int] = {"int2": 2, "int4": 4, "int8": 8, "hfp8": 8, "fp16": 16, "fp32": 32}


def _known_format_names(value: dict) -> None:
    unknown = sorted(set(value) - set(FORMAT_BITS))
    if unknown:
        raise ValueError(f"unknown arithmetic format(s) {unknown}; expected some of {list(FORMAT_BITS)}")


class CoprocessorSpec(Strict):
    """The accelerator: identical cores of systolic PE arrays, each with a scratchpad."""

    cores: int = Field(gt=0, le=65_536, description="Number of identical compute cores; at most 65,536.")
    clock: Hertz = Field(description="Core clock, e.g. '1.6 GHz'; 1 MHz to 100 GHz.")
    corelets_per_core: int = Field(gt=0, le=65_536, description="PE arrays (corelets) per core; at most 65,536.")
    pe_rows: int = Field(gt=0, le=65_536, description="PE rows per corelet; a matmul's batch (M) is mapped over rows; at most 65,536.")
    pe_cols: int = Field(gt=0, le=65_536, description="PE columns per corelet; a matmul's output features (N) are mapped over columns; "
                                                      "at most 65,536.")
    macs_per_cycle: dict[str, Annotated[int, Field(gt=0, le=10**9)]] = Field(
        description="Peak multiply-accumulates per cycle per core, by arithmetic format (int2, int4, int8, hfp8, fp16, fp32); "
                    "each at most 1,000,000,000."
    )
    sfu_ops_per_cycle: int = Field(
        gt=0, le=10**9,
        description="Element-wise operations (activation functions, products, quantizers) per cycle per core; at most 1,000,000,000.",
    )
    scratchpad: Bytes = Field(description="On-chip scratchpad per core, e.g. '2 MiB'; 1 B to 1 PiB.")
    weight_fraction: float = Field(
        gt=0, le=1,
        description="Share of each scratchpad that can keep weights resident across ops (the rest holds activations and stream buffers); "
                    "more than 0, at most 1.",
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

    @field_validator("macs_per_cycle")
    @classmethod
    def _known_formats(cls, value: dict[str, int]) -> dict[str, int]:
        _known_format_names(value)
        if not value:
            raise ValueError("must list at least one arithmetic format")
        return value

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


class MemorySpec(Strict):
    """Where weights that are not resident on chip come from."""

    weights_home: Literal["host", "device"] = Field(
        description="'host': weights live in host memory and cross the link; 'device': in memory attached to the coprocessor."
    )
    device_bandwidth: BytesPerSecond | None = Field(
        None, description="Bandwidth of device memory (needed when weights_home is 'device'); 1 kbit/s to 1 Pbit/s."
    )
    residency: Literal["pinned", "per_op"] = Field(
        "pinned",
        description="'pinned': weights used more than once stay in the scratchpads while they fit (coprocessor.weight_fraction); "
                    "'per_op': every op fetches its weights, as a runtime that runs each op as its own kernel does.",
    )
    prefetch: Literal["one_deep", "on_demand"] = Field(
        "one_deep",
        description="When an op's weight fetch may start: 'one_deep' once all its dependencies have started (double "
                    "buffering: the fetch overlaps the op before it); 'on_demand' only once they have all ended.",
    )

    @model_validator(mode="after")
    def _device_needs_bandwidth(self) -> "MemorySpec":
        if self.weights_home == "device" and self.device_bandwidth is None:
            raise ValueError("weights_home is 'device' but device_bandwidth is not given")
        return self


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
    family: Literal["systolic"] = Field(
        "systolic", description="The device's hardware family, which costs its ops: 'systolic', a coprocessor of cores "
                                "of systolic PE arrays with scratchpads (the coprocessor section).")
    coprocessor: CoprocessorSpec = Field(description="The accelerator: cores of PE arrays with scratchpads.")
    host: HostSpec = Field(description="The host CPU running the beam search bookkeeping.")
    link: LinkSpec = Field(description="The host <-> coprocessor link (each direction its own channel).")
    memory: MemorySpec = Field(description="Where weights live and which stay on chip.")
    energy: EnergySpec | None = Field(None, description="Energy per operation and per bit, and host power (optional: "
                                                        "without it no energy is reported).")
    box: BoxSpec | None = Field(None, description="A server of several such devices sharing one host and one uplink to it "
                                                  "(serving only; unset: one device).")

