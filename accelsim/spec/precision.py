"""Precision schemes: per-layer weight and activation bits and quantizer kinds, and the presets.

Presets are functions registered by name; each maps (network, layer, position) to a
:class:`LayerPrecision`. Biases always stay FP32 (they are not quantized in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from accelsim.spec.limits import show

#: Weight and activation bit widths a layer may use: any integer width 1..8, and 16/32 (floating point).
BITS = (32, 16, 8, 7, 6, 5, 4, 3, 2, 1)
QUANTIZERS = ("none", "FIX", "MAX", "SAWB", "PACT", "LUT", "GQ")
#: Non-uniform (codebook) weight quantizers: each weight is stored as a k-bit index into a per-layer codebook of
#: 2^k learned centroids. LUT is any learned codebook; GQ is Zhen et al.'s General Quantizer (centroids learned in a
#: mu-law constrained space). Both store and execute the same way; they quantize weights only (offline).
CODEBOOK_QUANTIZERS = ("LUT", "GQ")
#: Bits of one codebook entry (centroid) by default. Assumption: centroids are held as 8-bit integers with one
#: per-layer FP32 scale, so that a decoded weight runs on the chip's int8 units (the nearest native integer format
#: that holds a non-uniform centroid to useful precision); ``codebook_bits`` in a layer override changes it.
CODEBOOK_ENTRY_BITS = 8
CODEBOOK_SCALE_BITS = 32

#: Element-wise passes a quantizer makes over an activation tensor at run time. FIX and PACT use a
#: fixed (or learned, then frozen) clipping range: one scale-round-clamp pass. MAX and SAWB need the
#: tensor's statistics first (min/max or mean/abs-mean): a reduction pass, then the quantize pass, plus
#: the scale computation. Weights are quantized once, offline, and cost nothing at inference.
QUANTIZER_PASSES = {"none": 0, "FIX": 1, "PACT": 1, "MAX": 3, "SAWB": 3}

NETWORKS = ("encoder", "prediction", "joint", "lm_ext", "lm_src")
#: Layer kinds with a recurrent state (their hidden states get the hidden quantizer, the presets treat them alike).
RECURRENT_KINDS = ("lstm", "blstm", "gru", "bgru")
NETWORK_GROUPS: dict[str, tuple[str, ...]] = {
    **{n: (n,) for n in NETWORKS},
    "rnnt": ("encoder", "prediction", "joint"),
    "lms": ("lm_ext", "lm_src"),
}


@dataclass(frozen=True, slots=True)
class LayerPrecision:
    weight_bits: int
    act_bits: int
    weight_quantizer: str = "none"
    act_quantizer: str = "none"
    hidden_quantizer: str = "none"  # LSTM hidden state (and, with outer quantization, the cell output)
    codebook_bits: int = CODEBOOK_ENTRY_BITS  # bits of one centroid, when the weight quantizer is a codebook

    @property
    def label(self) -> str:
        return f"{self.weight_bits}/{self.act_bits}"

    @property
    def codebook(self) -> bool:
        """Weights stored as k-bit indices into a per-layer codebook (a non-uniform quantizer)."""
        return self.weight_quantizer in CODEBOOK_QUANTIZERS and self.weight_bits < 16

    def codebook_stored_bits(self) -> int:
        """Bits of the per-layer codebook itself: 2^k centroids and one scale (0 for uniform weights)."""
        return (2 ** self.weight_bits) * self.codebook_bits + CODEBOOK_SCALE_BITS if self.codebook else 0


Preset = Callable[[str, str, int], LayerPrecision]
"""(network, layer kind, position among the network's layers of that kind) -> precision."""

PRESETS: dict[str, Preset] = {}


def register_preset(name: str):
    def add(fn: Preset) -> Preset:
        PRESETS[name] = fn
        return fn

    return add


def _float(bits: int) -> Preset:
    def preset(network: str, kind: str, position: int) -> LayerPrecision:
        return LayerPrecision(bits, bits)

    return preset


register_preset("fp32")(_float(32))
register_preset("fp16")(_float(16))


@register_preset("int8")
def int8(network: str, kind: str, position: int) -> LayerPrecision:
    """Every layer 8/8; MAX for weights and inputs, FIX (+-1) for LSTM hidden states."""
    return LayerPrecision(8, 8, "MAX", "MAX", "FIX")


@register_preset("int4")
def int4(network: str, kind: str, position: int) -> LayerPrecision:
    """The paper's Fig. 1 scheme.

    RNN-T: the first encoder layer and every linear (and embedding) layer at 8 bits with MAX
    quantizers; the other LSTM layers 4-bit with SAWB weights and FIX inputs/hidden states.
    LMs: fully 4-bit, SAWB weights, PACT inputs; hidden states FIX (bounded by tanh x sigmoid, as in
    the RNN-T -- the paper does not say, this is our assumption).
    """
    if network in NETWORK_GROUPS["lms"]:
        return LayerPrecision(4, 4, "SAWB", "PACT", "FIX")
    if kind in RECURRENT_KINDS:
        if network == "encoder" and position == 0:
            return LayerPrecision(8, 8, "MAX", "MAX", "FIX")
        return LayerPrecision(4, 4, "SAWB", "FIX", "FIX")
    return LayerPrecision(8, 8, "MAX", "MAX", "none")


@register_preset("w2a4")
def w2a4(network: str, kind: str, position: int) -> LayerPrecision:
    """Table 1's 2/4 rows: the Fig. 1 scheme with its 4-bit RNN-T weights at 2 bits; LMs as in int4."""
    base = int4(network, kind, position)
    if network in NETWORK_GROUPS["rnnt"] and base.weight_bits == 4:
        return replace(base, weight_bits=2)
    return base


#: Layers an "8-bit ends" scheme keeps at 8/8: the front end and embeddings (first layers) and the joint network.
_EIGHT_BIT_KINDS = ("conv_subsampling", "embedding")


def _ends_at_eight(network: str, kind: str, position: int) -> bool:
    return (kind in _EIGHT_BIT_KINDS or network == "joint"
            or (network == "encoder" and kind in RECURRENT_KINDS and position == 0))


@register_preset("w4a8")
def w4a8(network: str, kind: str, position: int) -> LayerPrecision:
    """4-bit weights, 8-bit activations (MAX), the first and last layers at 8/8 (seed 002's 4-bit Conformer; assumption).

    Kept at 8/8: the convolutional front end (or the first encoder LSTM), embeddings and the joint network, the same
    rule as the int4 preset's Fig. 1 scheme. Biases and normalisation parameters stay FP32, as everywhere.
    """
    if _ends_at_eight(network, kind, position):
        return LayerPrecision(8, 8, "MAX", "MAX", "none")
    return LayerPrecision(4, 8, "MAX", "MAX", "FIX")


@register_preset("w4a8_mixed")
def w4a8_mixed(network: str, kind: str, position: int) -> LayerPrecision:
    """Mixed 4/8-bit weights (seed 002's second model; assumption): as w4a8, with the self-attention and convolution
    modules' weights at 8 bits; the feed-forward modules and recurrent layers stay at 4."""
    if kind in ("conformer_mhsa", "conformer_conv"):
        return LayerPrecision(8, 8, "MAX", "MAX", "none")
    return w4a8(network, kind, position)


@register_preset("gq")
def gq(network: str, kind: str, position: int) -> LayerPrecision:
    """Seed 003's GQ sub-8-bit scheme (assumptions): weights as learned mu-law codebooks, 8-bit activations (FIX).

    The seed says only "sub-8-bit" and "some RNN-T layers at 1 bit". Assumed here: the same 8-bit ends as the int8
    baseline stay 8/8 uniform (front end or first encoder LSTM, embeddings, joint network); the prediction network's
    LSTM layers at 1 bit (2 centroids); every other matmul layer (encoder LSTMs, Conformer modules, linears) 4-bit GQ.
    """
    if _ends_at_eight(network, kind, position):
        return LayerPrecision(8, 8, "MAX", "MAX", "FIX" if kind in RECURRENT_KINDS else "none")
    if network == "prediction" and kind in ("lstm", "gru"):
        return LayerPrecision(1, 8, "GQ", "FIX", "FIX")
    return LayerPrecision(4, 8, "GQ", "FIX", "FIX")


def parse_precision_flag(text: str) -> dict[str, str]:
    """``"int4"`` -> {"default": "int4"}; ``"rnnt=int4,lm_ext=int8"`` -> per-network presets.

    Raises ValueError with what was expected.
    """
    text = text.strip()
    if "=" not in text:
        text = text.lower()  # presets are lower case; INT4 is int4
        if text not in PRESETS:
            raise ValueError(f"unknown precision preset {show(text)}; expected one of {sorted(PRESETS)}")
        return {"default": text}
    out: dict[str, str] = {}
    for part in text.split(","):
        net, _, preset = part.partition("=")
        net, preset = net.strip().lower(), preset.strip().lower()
        if net not in NETWORK_GROUPS:
            raise ValueError(f"unknown network {show(net)} in {show(text)}; expected one of {sorted(NETWORK_GROUPS)}")
        if preset not in PRESETS:
            raise ValueError(f"unknown precision preset {show(preset)} in {show(text)}; expected one of {sorted(PRESETS)}")
        out[net] = preset
    return out
