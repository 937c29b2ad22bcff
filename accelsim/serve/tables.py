"""Text reports of a serving run and of a capacity search."""

from __future__ import annotations

from accelsim.serve.capacity import Capacity
from accelsim.serve.result import ServeResult


def format_serve(r: ServeResult) -> str:
    traffic = (f"{r.streams} always-active streams" if r.arrivals == "closed" else f"Poisson arrivals at {r.rate:g} utterances/s")
    path = {"exact": "exact single-stream segment reuse",
            "op": f"op level: one shared SimPy run, {r.jobs} ops and fetches",
            "batch": f"batch level: each batch as its measured phases, standing for {r.jobs} ops; batches "
                     f"shared a machine {r.batch_overlap:.1%} of the time" + (" (exact)" if not r.batch_overlap else "")}[r.level]
    fleet = f"{r.chips} chips ({r.dispatcher}) of " if r.chips > 1 else ""
    tails = r.tail_counts()
    lines = [
        f"{r.workload} on {fleet}{r.hardware}: {traffic}, max batch {r.max_batch}, max wait {r.max_wait_s * 1e3:g} ms ({path})",
        f"  {r.utterances} utterances measured, offered load {r.offered_load:.2f} audio s/s, throughput {r.throughput:.2f} audio s/s",
        "",
        "  latency (end of audio to result)",
        f"    p50 {r.latency_p50_s * 1e3:9.1f} ms   p90 {r.latency_p90_s * 1e3:9.1f} ms   p99 {r.latency_p99_s * 1e3:9.1f} ms   "
        f"max {r.latency_max_s * 1e3:9.1f} ms",
        "    utterances at or above each: " + ", ".join(f"{q} {n:g}" for q, n in tails.items()),
        *([f"    per chunk ({r.chunks} chunks, end of its audio to its partial result): p50 {r.chunk_latency_p50_s * 1e3:.1f} ms"
           f"   p90 {r.chunk_latency_p90_s * 1e3:.1f} ms   p99 {r.chunk_latency_p99_s * 1e3:.1f} ms"] if r.chunks else []),
        f"    queueing mean {r.queueing_mean_s * 1e3:.1f} ms, p99 {r.queueing_p99_s * 1e3:.1f} ms; p99 latency/audio {r.rtf_p99:.4f}",
        f"    Little's law: mean in system {r.mean_in_system:.3f} vs arrival rate x mean latency {r.little_l:.3f}",
        "",
        "  utilisation        busy",
    ]
    lines += [f"  {name:<16}{share * 100:6.1f}%" for name, share in r.utilisation.items()]
    if r.chips > 1:
        lines += ["", f"  {'chip':>4}  {'hardware':<16}{'utterances':>10}  {'p50 ms':>8}  {'p99 ms':>8}  busiest resource"]
        for c in r.per_chip:
            name, share = max(c["utilisation"].items(), key=lambda kv: kv[1])
            lines.append(f"  {c['chip']:>4}  {c['hardware']:<16}{c['utterances']:>10}  {c['latency_p50_s'] * 1e3:8.1f}  "
                         f"{c['latency_p99_s'] * 1e3:8.1f}  {name} {share * 100:.1f}%")
    lines += ["", "  batches            mean   sizes (size x count)"]
    for kind, sizes in r.batch_sizes.items():
        shown = ", ".join(f"{s}x{n}" for s, n in list(sizes.items())[:8]) + (" ..." if len(sizes) > 8 else "")
        lines.append(f"  {kind:<16}{r.batch_mean[kind]:6.2f}   {shown}")
    if r.chips > 1:
        lines[-len(r.batch_sizes):] = [line + "  (all chips)" for line in lines[-len(r.batch_sizes):]]
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
    unit = {"streams": "streams", "rate": "utterances/s", "chips": "chips"}[found.variable]
    slo = ", ".join(o.text for o in found.objectives)
    if found.variable == "chips":
        head = (f"smallest fleet: {found.capacity:g} chips within {slo}" if found.capacity else f"no fleet found within {slo}")
    else:
        head = f"capacity: {found.capacity:g} {unit} within {slo}"
    lines = [head, f"  {found.statement()}", "",
             f"  {unit:>12}  {'p50 ms':>9}  {'p99 ms':>9}  {'throughput':>10}  {'utterances':>10}  met (per seed)"]
    for p in sorted(found.probes, key=lambda p: p.load):
        r = p.result
        lines.append(f"  {p.load:12g}  {r.latency_p50_s * 1e3:9.1f}  {max(x.latency_p99_s for x in p.results) * 1e3:9.1f}  "
                     f"{r.throughput:10.2f}  {min(x.utterances for x in p.results):10d}  "
                     f"{'yes' if p.met else 'no '} ({' '.join('y' if m else 'n' for m in p.met_each)})")
    lines.append("  (p99: the worst seed's; utterances: the fewest any seed measured, a p99 resting on a hundredth of them)")
    return "\n".join(lines)
