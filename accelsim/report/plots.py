"""Figures: the paper's Fig. 2(a) and 2(b) redrawn from simulation, with the published values marked.

Both figures split the RTF with the same words: the encoder, and the decoding loop -- in 2(a) by network
(prediction net, joint net, LM_EXT, LM_SRC) and its own beam-search steps, in 2(b) into what runs on the
coprocessor and link and what runs on the host.
"""

from __future__ import annotations

from typing import Callable

from accelsim.graph.ir import COMPONENTS
from accelsim.report.compare import PARTS
from accelsim.report.figures import figure_bytes, subplots
from accelsim.report.result import SimResult
from accelsim.spec.targets import Setting, TargetsFile

COLORS = {"encoder": "#4477aa", "prediction": "#66ccee", "joint": "#228833", "lm_ext": "#ccbb44",
          "lm_src": "#ee6677", "search": "#aa3377"}
LABELS = {"encoder": "encoder", "prediction": "decoding: prediction net", "joint": "decoding: joint net",
          "lm_ext": "decoding: LM$_{EXT}$", "lm_src": "decoding: LM$_{SRC}$",
          "search": "decoding: beam search (launches, transfers, host)"}
SHORT = {"encoder": "encoder", "prediction": "prediction net", "joint": "joint net", "lm_ext": "LM$_{EXT}$",
         "lm_src": "LM$_{SRC}$", "search": "beam search"}
#: Fig. 2(b)'s parts, named as Fig. 2(a) names them.
DECODING_ACCEL = "decoding: coprocessor + link (prediction, joint, LMs, transfers)"
DECODING_HOST = "decoding: host (non-accelerable)"
RTF_LABEL = "real-time factor (processing time / audio)"
#: Fig. 2(a)'s columns: label, precision, link rate per lane (Gbps).
COLUMNS = [("FP16", "fp16", 32.0), ("INT8", "int8", 32.0), ("INT4", "int4", 32.0), ("INT4\nBW64", "int4", 64.0)]
PRECISION_LABEL = "precision (weights/activations, Fig. 1 scheme for INT4)"
#: A stacked segment below this share of the axis is too thin to see: its part's values go in a table under the panel.
THIN = 0.03


def _paper_rtf(targets: TargetsFile, setting: Setting) -> float | None:
    for fig in targets.rtf:
        if fig.setting().key() == setting.key():
            return fig.value
    return None


def _stack(ax, parts: dict[str, list[float]], colors: dict[str, str], labels: dict[str, str], width: float = 0.6,
           offset: float = 0.0, **style) -> list[float]:
    """Stacked bars, one per column, of ``parts`` (name -> value per column); each part is labelled on its first
    drawn segment (a part with nothing to draw gets no legend entry). Returns the column totals."""
    n = len(next(iter(parts.values())))
    bottom = [0.0] * n
    for name, values in parts.items():
        first = next((i for i, v in enumerate(values) if v > 0), None)
        for x, value in enumerate(values):
            ax.bar(x + offset, value, bottom=bottom[x], width=width, color=colors[name],
                   label=labels[name] if x == first else None, **style)
            bottom[x] += value
    return bottom


def _thin_table(ax, parts: dict[str, list[float]], labels: dict[str, str], unit: str, top: float) -> float:
    """Under the panel, the values of the parts too thin to see in some bar (a segment below THIN of the axis), column
    by column under the bars (two significant digits, never in powers of ten)."""
    import numpy as np

    thin = {labels[n]: v for n, v in parts.items() if any(0 < x < THIN * top for x in v)}
    if not thin:
        return -0.25
    rows = list(thin)
    cells = [[np.format_float_positional(v, precision=2, fractional=False, trim="-") for v in thin[r]] for r in rows]
    table = ax.table(cellText=cells, rowLabels=rows, cellLoc="center", rowLoc="right", edges="open",
                     bbox=[0, -0.3 - 0.075 * len(rows), 1, 0.075 * len(rows)])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    ax.text(0.5, -0.27, f"too thin to see above ({unit}):", transform=ax.transAxes, ha="center", va="bottom", fontsize=8,
            style="italic")
    return -0.3 - 0.075 * len(rows)


def _legend_and_caption(fig, axes, below: float, order: list[str], ncol: int, caption: str) -> None:
    """Under the panels (``below``: the lowest thing under them, in axes units): one legend for the figure, every part
    drawn in any panel once, in ``order``; then the caption."""
    found = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
    labels = sorted(found, key=lambda label: order.index(label) if label in order else len(order))
    top = fig.transFigure.inverted().transform(axes[0].transAxes.transform((0.0, below)))[1] - 0.02
    fig.legend([found[label] for label in labels], labels, fontsize=8, frameon=False, loc="upper center",
               bbox_to_anchor=(0.5, top), ncol=ncol)
    fig.text(0.5, top - 0.04 * (1 + -(-len(labels) // ncol)), caption, ha="center", va="top", fontsize=9)


def plot_fig2a(get: Callable[[Setting], SimResult], targets: TargetsFile, fmt: str = "png") -> bytes:
    """Stacked RTF by component, beam 16: FP16, INT8, INT4 at 32 Gbps and INT4 at 64 Gbps, without and with LMs."""
    fig, axes = subplots(1, 2, figsize=(11, 4.6), sharey=True, gridspec_kw={"wspace": 0.35})
    parts_of = {}
    for ax, lm in zip(axes, (False, True)):
        settings = [Setting(precision=p, lm_fusion=lm, link_Gbps=bw, beam=16) for _, p, bw in COLUMNS]
        results = [get(s) for s in settings]
        parts_of[lm] = {c: [r.breakdown_by_component[c] for r in results] for c in COMPONENTS}
        totals = _stack(ax, parts_of[lm], COLORS, LABELS)
        marked = False
        for x, (setting, total, result) in enumerate(zip(settings, totals, results)):
            ax.text(x, total, f"{result.rtf:.3f}", ha="center", va="bottom", fontsize=9)
            paper = _paper_rtf(targets, setting)
            if paper is not None:
                ax.plot(x + 0.38, paper, marker="<", color="black", markersize=9, linestyle="none",
                        label="paper (Sec. 4.1)" if not marked else None)
                marked = True
        ax.set_xlim(-0.5, len(COLUMNS) - 0.5)  # one column of the table of thin parts under each bar
        ax.set_xticks(range(len(COLUMNS)), [c[0] for c in COLUMNS])
        ax.set_xlabel(PRECISION_LABEL)
        ax.set_title("with LM fusion (LM$_{EXT}$ + LM$_{SRC}$)" if lm else "without LM fusion (RNN-T alone)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(RTF_LABEL)
    below = min(_thin_table(ax, parts_of[lm], SHORT, "RTF", ax.get_ylim()[1]) for ax, lm in zip(axes, (False, True)))
    fig.suptitle("Fig. 2(a): RTF by precision, beam 16, 152 frames (accelsim; paper values marked)")
    _legend_and_caption(fig, axes, below, [*LABELS.values(), "paper (Sec. 4.1)"], 4,
                        "Every bar runs on the default host link of 32 Gbps per lane (x16); BW64 is INT4 with the link "
                        "doubled to 64 Gbps per lane.\nBars: critical-path RTF by component (they sum to the RTF printed "
                        "above each bar); markers: the paper's values (Sec. 4.1).")
    return figure_bytes(fig, fmt, dpi=130)


def _host_per_iteration(result: SimResult) -> tuple[float, float]:
    """(host busy, host on the critical path) per decode iteration, in seconds."""
    busy = result.occupancy.get("host", 0.0) * result.time_s / max(result.iterations, 1)
    return busy, PARTS["host"](result) * result.audio_s / max(result.iterations, 1)


def host_caption(results: dict[tuple[float, int], SimResult], beams: tuple[int, ...], links: tuple[float, ...]) -> str:
    """Why the host's share jumps between two beams: its time is on the critical path only where it outlasts the link's
    prefetch of the next iteration's weights (with the simulated host time per iteration, on the path and in all)."""
    def times(bw: float, beam: int) -> str:
        busy, on_path = _host_per_iteration(results[(bw, beam)])
        return f"beam {beam}: {on_path * 1e6:.0f} of {busy * 1e6:.0f} us"

    per_link = "; ".join(f"at {bw:g} Gbps {', '.join(times(bw, b) for b in beams[-2:])}" for bw in links)
    return ("Host time counts on the critical path only where the link waits for it. While the host fuses, selects and "
            "merges the hypotheses and copies\nthe survivors' states, the link prefetches the next iteration's first "
            "weights: a host that finishes first is hidden behind the link; one that outlasts\nthe prefetch makes the "
            "link wait, and all of its time is on the path (a faster link ends its prefetch sooner). Host time per "
            f"iteration on the path,\nof its time in all: {per_link}.")


def plot_fig2b(get: Callable[[Setting], SimResult], targets: TargetsFile, fmt: str = "png") -> bytes:
    """INT4 with LM fusion: RTF against beam width at 32 and 64 Gbps, split into encoder / decoding / host."""
    beams, links = (1, 2, 4, 8, 16), (32.0, 64.0)
    parts = {"encoder": lambda r: PARTS["encoder"](r), DECODING_ACCEL: lambda r: PARTS["decoding_loop"](r) - PARTS["host"](r),
             DECODING_HOST: lambda r: PARTS["host"](r)}
    colors = {"encoder": "#4477aa", DECODING_ACCEL: "#ccbb44", DECODING_HOST: "#aa3377"}
    fig, ax = subplots(figsize=(9, 4.6))
    width = 0.38
    results = {(bw, b): get(Setting(precision="int4", lm_fusion=True, link_Gbps=bw, beam=b)) for bw in links for b in beams}
    marked = False
    for offset, bw, hatch in ((-width / 2, 32.0, ""), (width / 2, 64.0, "//")):
        values = {name: [part(results[(bw, b)]) for b in beams] for name, part in parts.items()}
        _stack(ax, values, colors, {n: n for n in parts} if bw == links[0] else {n: None for n in parts},
               width=width * 0.95, offset=offset, hatch=hatch, edgecolor="white")
        for x, beam in enumerate(beams):
            paper = _paper_rtf(targets, Setting(precision="int4", lm_fusion=True, link_Gbps=bw, beam=beam))
            if paper is not None:
                ax.plot(x + offset, paper, marker="D", color="black", markersize=6, linestyle="none",
                        label="paper (Sec. 4.1)" if not marked else None)
                marked = True
    ax.set_xticks(range(len(beams)), [str(b) for b in beams])
    ax.set_xticks([x + o for x in range(len(beams)) for o in (-width / 2, width / 2)],
                  [f"{bw:g}" for _ in beams for bw in links], minor=True, fontsize=7)
    ax.tick_params(axis="x", which="major", pad=13, length=0)
    ax.set_xlabel("beam width (hypotheses); under each bar its link rate per lane (Gbps), 64 Gbps hatched")
    ax.set_ylabel(RTF_LABEL)
    ax.set_title("Fig. 2(b): INT4 RNN-T with LM fusion, RTF against beam width (accelsim; paper values marked)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.19), ncol=2, frameon=False)  # below: bars fill the panel
    fig.text(0.5, -0.16, host_caption(results, beams, links), ha="center", va="top", fontsize=8)
    return figure_bytes(fig, fmt, dpi=130)


ENERGY_COLORS = {"compute": "#4477aa", "sfu": "#66ccee", "scratchpad": "#228833", "link": "#ccbb44", "host": "#aa3377",
                 "static": "#bbbbbb"}


def plot_energy(get: Callable[[Setting], SimResult], fmt: str = "png") -> bytes:
    """Energy per audio hour by component for Fig. 2(a)'s settings (with and without LMs), from the machine's
    energy model (hw.energy: per-MAC energies from the chip's published TOPS/W, per-bit link energy, host power)."""
    fig, axes = subplots(1, 2, figsize=(11, 4.6), sharey=True, gridspec_kw={"wspace": 0.35})
    parts_of = {}
    for ax, lm in zip(axes, (False, True)):
        rows = [get(Setting(precision=p, lm_fusion=lm, link_Gbps=bw, beam=16)).energy_row() for _, p, bw in COLUMNS]
        parts_of[lm] = {part: [row.get(f"energy_{part}_J_per_audio_h", 0.0) / 1e3 for row in rows] for part in ENERGY_COLORS}
        totals = _stack(ax, parts_of[lm], ENERGY_COLORS, {p: p for p in ENERGY_COLORS})
        for x, total in enumerate(totals):
            ax.text(x, total, f"{total:.2f}", ha="center", va="bottom", fontsize=9)
        ax.set_xlim(-0.5, len(COLUMNS) - 0.5)
        ax.set_xticks(range(len(COLUMNS)), [c[0] for c in COLUMNS])
        ax.set_xlabel(PRECISION_LABEL)
        ax.set_title("with LM fusion" if lm else "without LM fusion (RNN-T alone)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("energy per audio hour (kJ), one stream")
    below = min(_thin_table(ax, parts_of[lm], {p: p for p in ENERGY_COLORS}, "kJ per audio hour", ax.get_ylim()[1])
                for ax, lm in zip(axes, (False, True)))
    fig.suptitle("Energy per audio hour by component, beam 16, 152 frames (accelsim; energy model of the hardware file)")
    _legend_and_caption(fig, axes, below, list(ENERGY_COLORS), 6,
                        "compute: MACs x energy per MAC of their format (from the chip's TOPS/W); link: weight fetches "
                        "and transfers x energy per bit;\nhost: busy and idle power over the run; static: coprocessor "
                        "static power. No published energy figure to compare with.")
    return figure_bytes(fig, fmt, dpi=130)
