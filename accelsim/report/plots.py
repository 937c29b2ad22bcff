"""Figures: the paper's Fig. 2(a) and 2(b) redrawn from simulation, with the published values marked.

Both figures split the RTF with the same words: the encoder, and the decoding loop -- in 2(a) by network
(prediction net, joint net, LM_EXT, LM_SRC) and its own beam-search steps, in 2(b) into what runs on the
coprocessor and link and what runs on the host.
"""

from __future__ import annotations

from typing import Callable

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from accelsim.report.figures import figure_bytes  # noqa: E402
from accelsim.report.result import SimResult  # noqa: E402
from accelsim.report.compare import PARTS  # noqa: E402
from accelsim.spec.targets import Setting, TargetsFile  # noqa: E402
from accelsim.graph.ir import COMPONENTS  # noqa: E402

COLORS = {"encoder": "#4477aa", "prediction": "#66ccee", "joint": "#228833", "lm_ext": "#ccbb44",
          "lm_src": "#ee6677", "search": "#aa3377"}
LABELS = {"encoder": "encoder", "prediction": "decoding: prediction net", "joint": "decoding: joint net",
          "lm_ext": "decoding: LM$_{EXT}$", "lm_src": "decoding: LM$_{SRC}$",
          "search": "decoding: beam search (launches, transfers, host)"}
#: Fig. 2(b)'s parts, named as Fig. 2(a) names them.
DECODING_ACCEL = "decoding: coprocessor + link (prediction, joint, LMs, transfers)"
DECODING_HOST = "decoding: host (non-accelerable)"
RTF_LABEL = "real-time factor (processing time / audio)"


def _paper_rtf(targets: TargetsFile, setting: Setting) -> float | None:
    for fig in targets.rtf:
        if fig.setting().key() == setting.key():
            return fig.value
    return None


def plot_fig2a(get: Callable[[Setting], SimResult], targets: TargetsFile, fmt: str = "png") -> bytes:
    """Stacked RTF by component, beam 16: FP16, INT8, INT4 at 32 Gbps and INT4 at 64 Gbps, without and with LMs."""
    columns = [("FP16", "fp16", 32.0), ("INT8", "int8", 32.0), ("INT4", "int4", 32.0), ("INT4\nBW64", "int4", 64.0)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, lm in zip(axes, (False, True)):
        marked = False
        for x, (label, precision, bw) in enumerate(columns):
            setting = Setting(precision=precision, lm_fusion=lm, link_Gbps=bw, beam=16)
            result = get(setting)
            bottom = 0.0
            for comp in COMPONENTS:
                value = result.breakdown_by_component[comp]
                ax.bar(x, value, bottom=bottom, color=COLORS[comp], width=0.6, label=LABELS[comp] if x == 0 else None)
                bottom += value
            ax.text(x, bottom, f"{result.rtf:.3f}", ha="center", va="bottom", fontsize=9)
            paper = _paper_rtf(targets, setting)
            if paper is not None:
                ax.plot(x + 0.38, paper, marker="<", color="black", markersize=9, linestyle="none",
                        label="paper (Sec. 4.1)" if not marked else None)
                marked = True
        ax.set_xticks(range(len(columns)), [c[0] for c in columns])
        ax.set_xlabel("precision (weights/activations, Fig. 1 scheme for INT4)")
        ax.set_title("with LM fusion (LM$_{EXT}$ + LM$_{SRC}$)" if lm else "without LM fusion (RNN-T alone)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(RTF_LABEL)
    handles, labels = [], []
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    axes[0].legend(handles, labels, loc="upper right", fontsize=8)  # the panel without LMs has room above its bars
    fig.suptitle("Fig. 2(a): RTF by precision, beam 16, 152 frames (accelsim; paper values marked)")
    fig.text(0.5, -0.04, "Every bar runs on the default host link of 32 Gbps per lane (x16); BW64 is INT4 with the link "
             "doubled to 64 Gbps per lane.\nBars: critical-path RTF by component (they sum to the RTF printed above "
             "each bar); markers: the paper's values (Sec. 4.1).", ha="center", va="top", fontsize=9)
    return figure_bytes(fig, fmt, dpi=130)


def plot_fig2b(get: Callable[[Setting], SimResult], targets: TargetsFile, fmt: str = "png") -> bytes:
    """INT4 with LM fusion: RTF against beam width at 32 and 64 Gbps, split into encoder / decoding / host."""
    beams = (1, 2, 4, 8, 16)
    parts = (("encoder", "#4477aa", lambda r: PARTS["encoder"](r)),
             (DECODING_ACCEL, "#ccbb44", lambda r: PARTS["decoding_loop"](r) - PARTS["host"](r)),
             (DECODING_HOST, "#aa3377", lambda r: PARTS["host"](r)))
    fig, ax = plt.subplots(figsize=(9, 4.6))
    width = 0.38
    marked = False
    for offset, bw, hatch in ((-width / 2, 32.0, ""), (width / 2, 64.0, "//")):
        for x, beam in enumerate(beams):
            setting = Setting(precision="int4", lm_fusion=True, link_Gbps=bw, beam=beam)
            result = get(setting)
            bottom = 0.0
            for name, color, part in parts:
                value = part(result)
                ax.bar(x + offset, value, bottom=bottom, width=width * 0.95, color=color, hatch=hatch, edgecolor="white",
                       label=name if (x == 0 and bw == 32.0) else None)
                bottom += value
            paper = _paper_rtf(targets, setting)
            if paper is not None:
                ax.plot(x + offset, paper, marker="D", color="black", markersize=6, linestyle="none",
                        label="paper (Sec. 4.1)" if not marked else None)
                marked = True
    ax.bar(0, 0, color="white", edgecolor="grey", label="left: 32 Gbps, right (hatched): 64 Gbps")
    ax.set_xticks(range(len(beams)), [str(b) for b in beams])
    ax.set_xlabel("beam width")
    ax.set_ylabel(RTF_LABEL)
    ax.set_title("Fig. 2(b): INT4 RNN-T with LM fusion, RTF against beam width (accelsim; paper values marked)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)  # below: bars fill the panel
    return figure_bytes(fig, fmt, dpi=130)


ENERGY_COLORS = {"compute": "#4477aa", "sfu": "#66ccee", "scratchpad": "#228833", "link": "#ccbb44", "host": "#aa3377",
                 "static": "#bbbbbb"}


def plot_energy(get: Callable[[Setting], SimResult], fmt: str = "png") -> bytes:
    """Energy per audio hour by component for Fig. 2(a)'s settings (with and without LMs), from the machine's
    energy model (hw.energy: per-MAC energies from the chip's published TOPS/W, per-bit link energy, host power)."""
    columns = [("FP16", "fp16", 32.0), ("INT8", "int8", 32.0), ("INT4", "int4", 32.0), ("INT4\nBW64", "int4", 64.0)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, lm in zip(axes, (False, True)):
        for x, (label, precision, bw) in enumerate(columns):
            result = get(Setting(precision=precision, lm_fusion=lm, link_Gbps=bw, beam=16))
            row = result.energy_row()
            bottom = 0.0
            for part, color in ENERGY_COLORS.items():
                value = row.get(f"energy_{part}_J_per_audio_h", 0.0) / 1e3
                ax.bar(x, value, bottom=bottom, color=color, width=0.6, label=part if x == 0 else None)
                bottom += value
            ax.text(x, bottom, f"{bottom:.2f}", ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(columns)), [c[0] for c in columns])
        ax.set_xlabel("precision (weights/activations, Fig. 1 scheme for INT4)")
        ax.set_title("with LM fusion" if lm else "without LM fusion (RNN-T alone)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("energy per audio hour (kJ), one stream")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle("Energy per audio hour by component, beam 16, 152 frames (accelsim; energy model of the hardware file)")
    fig.text(0.5, -0.04, "compute: MACs x energy per MAC of their format (from the chip's TOPS/W); link: weight fetches and "
             "transfers x energy per bit;\nhost: busy and idle power over the run; static: coprocessor static power. "
             "No published energy figure to compare with.", ha="center", va="top", fontsize=9)
    return figure_bytes(fig, fmt, dpi=130)
