"""Human-readable text tables for the CLI."""

from __future__ import annotations

from accelsim.report.result import SimResult


def _rows(title: str, values: dict[str, float], total: float, unit: str = "RTF") -> list[str]:
    lines = [f"  {title:<14}{unit:>10}{'share':>9}"]
    for key, value in values.items():
        share = value / total if total else 0.0
        lines.append(f"  {key:<14}{value:>10.4f}{share:>9.1%}")
    return lines


def _traffic(r: SimResult) -> list[str]:
    """Weight bytes read from each memory level, its busy time, and which components read them."""
    if not r.traffic_bytes:
        return []
    lines = ["", f"  {'weights from':<14}{'MB':>10}{'busy ms':>10}  read by"]
    for level, n_bytes in r.level_bytes().items():
        parts = {k.split("/")[0]: v for k, v in r.traffic_bytes.items() if k.split("/", 1)[1] == level}
        readers = ", ".join(f"{c} {v / n_bytes:.0%}" for c, v in sorted(parts.items(), key=lambda kv: -kv[1]))
        busy = r.level_busy_s.get(level)
        lines.append(f"  {level:<14}{n_bytes / 1e6:>10.1f}{busy * 1e3 if busy is not None else float('nan'):>10.3f}  {readers}"
                     .replace("       nan", "         -"))
    return lines


def _promotion_note(r: SimResult) -> list[str]:
    """Where fp32 networks ran on fp16 units (a chip without fp32 MACs): the same RTF as fp16, said where it happens."""
    promoted = [net for net, preset in r.presets.items() if preset == "fp32" and "fp32" not in r.formats.get(net, "fp32")]
    if not promoted:
        return []
    return [f"  note: this chip has no fp32 MAC units: {', '.join(promoted)} ran as fp16 (weights shipped as FP16, "
            "the paper's baseline), so the RTF is fp16's"]


def format_run(r: SimResult) -> str:
    precision = ", ".join(f"{k}={v}" for k, v in r.presets.items())
    lines = [
        f"{r.workload} on {r.hardware}",
        f"  precision: {precision}",
        *([f"  ran in: {', '.join(f'{k}={v}' for k, v in r.formats.items())} (MAC formats on this chip)"] if r.formats else []),
        *_promotion_note(r),
        f"  beam {r.beam}, {r.iterations} decode iterations, link {r.link_GBps:.3g} GB/s per direction, "
        f"model {r.model_size_MB:.1f} MB ({r.compression:.1f}x vs FP32)",
        "",
        f"  RTF {r.rtf:.4f}   processing {r.time_s * 1e3:.1f} ms   audio {r.audio_s:.2f} s   "
        f"{r.ops} ops, {r.fetched_weight_bytes / 1e6:.0f} MB of weights fetched",
        *([f"  test set of {len(r.utterance_rtfs)} utterances: RTF is total time / total audio; per utterance "
           f"p50 {r.percentile(50):.4f}, p90 {r.percentile(90):.4f}, p99 {r.percentile(99):.4f}"] if r.utterance_rtfs else []),
        *([f"  streaming in {r.latency['chunks']:.0f} chunks: latency per chunk (end of its audio to its partial result) "
           f"p50 {r.latency['chunk_p50_s'] * 1e3:.1f} ms, p90 {r.latency['chunk_p90_s'] * 1e3:.1f} ms, "
           f"p99 {r.latency['chunk_p99_s'] * 1e3:.1f} ms; final latency {r.latency['final_s'] * 1e3:.1f} ms after the "
           "last audio (the RTF counts processing time only)"] if r.latency else []),
        "",
        *_rows("component", r.breakdown_by_component, r.rtf),
        "",
        *_rows("resource", r.breakdown_by_resource, r.rtf),
        "",
        f"  {'occupancy':<14}{'busy':>10}",
        *(f"  {k:<14}{v:>10.1%}" for k, v in r.occupancy.items()),
        *_traffic(r),
    ]
    if r.energy_J:
        e = r.energy_row()
        total = sum(r.energy_J.values())
        lines += ["", f"  energy {e['energy_J_per_utterance']:.4f} J per utterance, {e['energy_J_per_audio_h'] / 1e3:.2f} kJ "
                      "per audio hour", f"  {'component':<14}{'joules':>10}    share",
                  *(f"  {k:<14}{v:>10.4f}  {v / total:>7.1%}" for k, v in r.energy_J.items())]
    return "\n".join(lines)


def format_layers(layers, rtf: float) -> str:
    """The per-layer table of ``SimResult.layers()``, with a total line equal to the run's totals."""
    head = (f"  {'network':<11}{'layer':<13}{'ops':>7}{'GMACs':>9}{'weights MB':>12}  {'from':<8}{'crit. ms':>10}{'RTF':>9}"
            f"{'share':>8}  {'bound by':<12}{'bits w/a':<9}{'format':<7}")
    lines = [head]
    for row in layers.itertuples(index=False):
        bits = "/".join("-" if str(b) == "<NA>" else str(b) for b in (row.weight_bits, row.act_bits))
        bits = "-" if bits == "-/-" else bits
        share = row.critical_rtf / rtf if rtf else 0.0
        lines.append(f"  {row.network:<11}{row.layer:<13}{row.ops:>7}{row.macs / 1e9:>9.3f}{row.weight_bytes / 1e6:>12.1f}"
                     f"  {row.weights_from or '-':<8}{row.critical_s * 1e3:>10.3f}{row.critical_rtf:>9.5f}{share:>8.1%}  {row.bound_by or '-':<12}"
                     f"{bits:<9}{row.mac_format or '-':<7}")
    lines.append(f"  {'total':<24}{layers.ops.sum():>7}{layers.macs.sum() / 1e9:>9.3f}{layers.weight_bytes.sum() / 1e6:>12.1f}"
                 f"  {'':<8}{layers.critical_s.sum() * 1e3:>10.3f}{layers.critical_rtf.sum():>9.5f}")
    return "\n".join(lines)


def format_layer_sizes(rows: list[dict]) -> str:
    lines = [f"  {'network':<11}{'layer':<20}{'kind':<22}{'weights (M)':>12}{'bits':>5}  {'quantizer':<10}"
             f"{'FP32 params':>12}{'codebook B':>11}{'size (MB)':>10}"]
    lines += [f"  {r['network']:<11}{r['layer']:<20}{r['kind']:<22}{r['weight_params'] / 1e6:>12.3f}{r['weight_bits']:>5}  "
              f"{r['weight_quantizer']:<10}{r['fp32_params']:>12}{r['codebook_bytes']:>11.0f}{r['size_MB']:>10.3f}"
              for r in rows]
    return "\n".join(lines)


def format_size(report: dict) -> str:
    lines = [f"  {'network':<12}{'precision':>10}{'params (M)':>12}{'size (MB)':>11}{'FP32 (MB)':>11}{'compr.':>8}"]
    for name, n in report["networks"].items():
        lines.append(f"  {name:<12}{n['precision']:>10}{n['params_M']:>12.2f}{n['size_MB']:>11.1f}{n['fp32_MB']:>11.1f}"
                     f"{n['compression']:>7.1f}x")
    lines.append(f"  {'total':<12}{'':>10}{report['params_M']:>12.2f}{report['total_MB']:>11.1f}{report['fp32_MB']:>11.1f}"
                 f"{report['compression']:>7.1f}x")
    return "\n".join(lines)
