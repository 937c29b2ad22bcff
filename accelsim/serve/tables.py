"""Text reports of a serving run and of a capacity search."""

from __future__ import annotations

from accelsim.serve.capacity import Capacity
from accelsim.serve.result import ServeResult


def format_serve(r: ServeResult) -> str:
    traffic = (f"{r.streams} always-active streams" if r.arrivals == "closed" else f"Poisson arrivals at {r.rate:g} utterances/s")
    path = "exact single-stream segment reuse" if r.exact_reuse else f"one shared SimPy run, {r.jobs} ops and fetches"
    lines = [
        f"{r.workload} on {r.hardware}: {traffic}, max batch {r.max_batch}, max wait {r.max_wait_s * 1e3:g} ms ({path})",
        f"  {r.utterances} utterances measured, offered load {r.offered_load:.2f} audio s/s, throughput {r.throughput:.2f} audio s/s",
        "",
        "  latency (end of audio to result)",
        f"    p50 {r.latency_p50_s * 1e3:9.1f} ms   p90 {r.latency_p90_s * 1e3:9.1f} ms   p99 {r.latency_p99_s * 1e3:9.1f} ms   "
        f"max {r.latency_max_s * 1e3:9.1f} ms",
        *([f"    per chunk ({r.chunks} chunks, end of its audio to its partial result): p50 {r.chunk_latency_p50_s * 1e3:.1f} ms"
           f"   p90 {r.chunk_latency_p90_s * 1e3:.1f} ms   p99 {r.chunk_latency_p99_s * 1e3:.1f} ms"] if r.chunks else []),
        f"    queueing mean {r.queueing_mean_s * 1e3:.1f} ms, p99 {r.queueing_p99_s * 1e3:.1f} ms; p99 latency/audio {r.rtf_p99:.4f}",
        f"    Little's law: mean in system {r.mean_in_system:.3f} vs arrival rate x mean latency {r.little_l:.3f}",
        "",
        "  utilisation        busy",
    ]
    lines += [f"  {name:<16}{share * 100:6.1f}%" for name, share in r.utilisation.items()]
    lines += ["", "  batches            mean   sizes (size x count)"]
    for kind, sizes in r.batch_sizes.items():
        shown = ", ".join(f"{s}x{n}" for s, n in list(sizes.items())[:8]) + (" ..." if len(sizes) > 8 else "")
        lines.append(f"  {kind:<16}{r.batch_mean[kind]:6.2f}   {shown}")
    lines.append(f"  weights fetched: {r.fetched_weight_bytes / 1e9:.2f} GB")
    if r.energy:
        total = sum(r.energy.values())
        row = r.row()
        lines += ["", f"  energy {total:.3f} J for {r.served} utterances: {row['energy_J_per_utterance']:.4f} J per utterance, "
                      f"{row['energy_J_per_audio_h'] / 1e3:.2f} kJ per audio hour",
                  "  component        joules   share"]
        lines += [f"  {k:<14}{v:9.4f}  {v / total * 100:5.1f}%" for k, v in r.energy.items()]
    return "\n".join(lines)


def format_capacity(found: Capacity) -> str:
    unit = "streams" if found.variable == "streams" else "utterances/s"
    slo = ", ".join(o.text for o in found.objectives)
    lines = [f"capacity: {found.capacity:g} {unit} within {slo}"
             + (f" (fails at {found.above:g})" if found.above is not None else " (no failing load found)"),
             f"confidence: {found.statement()}", "", f"  {'load':>10}  {'p50 ms':>9}  {'p99 ms':>9}  {'throughput':>10}  met"]
    for t in sorted(found.trials, key=lambda t: t.load):
        lines.append(f"  {t.load:10g}  {t.result.latency_p50_s * 1e3:9.1f}  {t.result.latency_p99_s * 1e3:9.1f}  "
                     f"{t.result.throughput:10.2f}  {'yes' if t.met else 'no'}")
    return "\n".join(lines)
