"""``accelsim measure``: time a workload's encoder and one decode iteration on this CPU, beside accelsim's prediction.

The measured side is the reference runtime (``accelsim/measure/reference.py``, numpy float32; optionally the same
encoder through onnxruntime), timed by the harness: pinned, BLAS on ``threads`` threads, warmed up, at least five
repeats, minimum and median CPU time. Nothing measured here goes back into the model.

The predicted side is one ``accelsim.simulate`` of the workload on the hardware file, with its per-op records:

- **encoder**: the encoder's share of the critical path (``breakdown_by_component['encoder']``) times the audio
  duration. The encoder segment ends before the first decode iteration starts, so this is the simulated encoder's
  time: the features' copy in, the launch, every layer.
- **encoder layers** (``by_layer``): each layer of the encoder timed alone on its own input (warm: its weights may
  sit in the caches its previous repeat left them in, as in the whole encoder's steps), beside that layer's
  critical-path seconds in the simulation (``SimResult.layers()``, as ``run --by layer`` prints them).
- **decode iteration**: the span (first start to last end) of the records of one iteration -- the *typical* one,
  whose work (active hypotheses, new prefixes, LM evaluations, survivors) is the most frequent in the workload's
  decode trace -- and the reference runtime runs exactly that work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.measure.harness import Controls, Timing, controlled, time_call
from accelsim.measure.reference import Decoder, Encoder, IterationWork, Unsupported, check_model
from accelsim.spec.workload import WorkloadSpec
from accelsim.api import Point, decode_trace, simulate
from accelsim.report.result import SimResult
from accelsim.workload.model import build_model


@dataclass(frozen=True)
class Part:
    """One piece of work timed, and what accelsim predicts for it (seconds)."""

    name: str
    work: str
    timing: Timing
    predicted_s: float | None = None
    clock: str = "cpu"  # what is compared: the minimum CPU time (one thread) or, on several threads, wall time

    @property
    def measured_s(self) -> float:
        return self.timing.cpu_min if self.clock == "cpu" else self.timing.wall_min

    @property
    def error_pct(self) -> float | None:
        """(predicted - measured) / measured, in percent."""
        if self.predicted_s is None:
            return None
        return 100.0 * (self.predicted_s - self.measured_s) / self.measured_s

    def to_dict(self) -> dict:
        return {"name": self.name, "work": self.work, **self.timing.to_dict(), "compared": f"{self.clock}_min_s",
                "predicted_s": self.predicted_s, "error_pct": self.error_pct}


@dataclass(frozen=True)
class Measurement:
    workload: str
    hardware: str
    parts: tuple[Part, ...]
    controls: Controls
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"workload": self.workload, "hardware": self.hardware, "parts": [p.to_dict() for p in self.parts],
                "controls": self.controls.to_dict(), "notes": list(self.notes)}


def check_measurable(spec: WorkloadSpec, source: str) -> None:
    """One clear error for a workload the reference runtime cannot run whole (``source`` names it)."""
    if spec.test_set is not None:
        raise AccelsimError(f"{source}: test_set: measure runs one utterance (--set workload.test_set=null runs "
                            "utterance.frames)")
    if spec.streaming is not None:
        raise AccelsimError(f"{source}: streaming: the reference runtime runs the encoder over the whole utterance "
                            "(--set workload.streaming=null)")
    try:
        check_model(build_model(spec))
    except Unsupported as exc:
        raise AccelsimError(f"{source}: {exc}") from None


def measure(point: Point, source: str, repeats: int = 5, threads: int = 1, onnxruntime: bool = False,
            by_layer: bool = False) -> Measurement:
    """Time the encoder (``by_layer``: and each of its layers) and the typical decode iteration of ``point.workload``
    and predict them on ``point.hardware``; ``source`` names the workload in errors."""
    spec = point.workload
    check_measurable(spec, source)
    model = build_model(spec)
    fusion = (spec.decoding.fusion.mu, spec.decoding.fusion.lam, spec.decoding.fusion.rho) if spec.decoding.lm_fusion else None
    encoder, decoder = Encoder(model), Decoder(model, spec.decoding.beam, fusion)
    index, work = typical_iteration(spec)
    features = np.random.default_rng(3).standard_normal(encoder.input_shape(spec.utterance.frames), dtype=np.float32)
    inputs = decoder.inputs(work)
    result = simulate(spec, point.hardware, keep_records=True)
    encoder_s, iteration_s = predict(point, index, result)
    frames = spec.utterance.frames
    clock = "cpu" if threads == 1 else "wall"  # CPU time adds several threads up
    with controlled(threads) as controls:
        parts = [Part("encoder", f"{_layers(model)}, {frames} frames, {model.lstm_input_projection} LSTM projection",
                      time_call(lambda: encoder(features), repeats), encoder_s, clock)]
        if by_layer:
            rows = result.layers().query("network == 'encoder'")  # critical-path seconds of each layer's ops
            predicted = dict(zip(rows.layer, rows.critical_s))
            parts += [Part(f"encoder.{layer.name}", f"{layer.kind} layer, timed alone on its input",
                           time_call(call, repeats), predicted.get(layer.name, 0.0), clock)
                      for layer, call in encoder.layers(features)]
        parts.append(Part("decode_iteration", f"iteration {index}: {work.active} hypotheses, {work.miss_prediction} "
                          f"new prefixes, {work.miss_lm} LM rows, top {spec.decoding.beam} of {work.active * model.vocab}",
                          time_call(lambda: decoder.iteration(work, inputs), repeats), iteration_s, clock))
        if onnxruntime:
            from accelsim.measure.onnx_graph import onnx_encoder

            session = onnx_encoder(encoder, threads, frames)
            parts.append(Part("encoder (onnxruntime)", f"the same encoder graph (its LSTMs batch the input projection), "
                              f"{threads} intra-op thread(s)", time_call(lambda: session(features), repeats), encoder_s,
                              clock))
    return Measurement(spec.name, point.hardware.name, tuple(parts), controls, tuple(_threads_seen(parts, threads)))


def _threads_seen(parts: list[Part], threads: int) -> list[str]:
    """A check that the BLAS limit took effect: one thread's CPU time cannot exceed its wall time (by more than
    the clocks' granularity)."""
    return [f"{p.name}: median CPU time {p.timing.cpu_median * 1e3:.3g} ms exceeds median wall time "
            f"{p.timing.wall_median * 1e3:.3g} ms: more than {threads} thread(s) ran" for p in parts
            if p.timing.cpu_median > 1.2 * threads * p.timing.wall_median + 1e-3]


def _layers(model) -> str:
    kinds: dict[str, int] = {}
    for layer in model.networks["encoder"].layers:
        kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in kinds.items())


def typical_iteration(spec: WorkloadSpec) -> tuple[int, IterationWork]:
    """The decode iteration ``measure`` times: the most frequent work of the workload's search trace."""
    return IterationWork.typical(decode_trace(spec).steps)


def predict(point: Point, iteration: int | None = None, result: SimResult | None = None) -> tuple[float, float]:
    """accelsim's encoder time and the time of decode iteration ``iteration`` (see the module docstring; default the
    typical one), from ``result`` (a simulation of ``point`` with its records; default: one made here)."""
    if iteration is None:
        iteration = typical_iteration(point.workload)[0]
    if result is None:
        result = simulate(point.workload, point.hardware, keep_records=True)
    encoder = result.breakdown_by_component["encoder"] * result.audio_s
    prefix = f"it{iteration}."
    rows = [r for r in result.records if r.op.startswith(prefix)]
    return encoder, max(r.end for r in rows) - min(r.start for r in rows)


def format_measurement(m: Measurement) -> str:
    c = m.controls
    kind = "CPU" if all(p.clock == "cpu" for p in m.parts) else "wall"
    lines = [f"{m.workload} measured on CPU(s) {','.join(map(str, c.cpus)) or '?'} (BLAS: {c.blas or 'unknown'}, "
             f"{c.blas_threads or '?'} thread(s)), predicted on {m.hardware}",
             f"  times: minimum and median {kind} time of the repeats; error = (predicted - minimum) / minimum", "",
             f"  {'part':<26}{'min ms':>10}{'median ms':>11}{'predicted ms':>14}{'error':>9}  work"]
    for p in m.parts:
        median = p.timing.cpu_median if p.clock == "cpu" else p.timing.wall_median
        predicted = f"{p.predicted_s * 1e3:>14.4g}" if p.predicted_s is not None else f"{'-':>14}"
        error = f"{p.error_pct:>+8.1f}%" if p.error_pct is not None else f"{'-':>9}"
        lines.append(f"  {p.name:<26}{p.measured_s * 1e3:>10.4g}{median * 1e3:>11.4g}{predicted}"
                     f"{error}  {p.work} ({p.timing.repeats} repeats)")
    lines += [f"  note: {n}" for n in (*c.notes, *m.notes)]
    return "\n".join(lines)
