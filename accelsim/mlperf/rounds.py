"""Continuous batching as rounds: what one round of a batch costs on a machine, memoised per batch shape.

A batch of up to ``max_batch`` slots holds one utterance each; a *round* advances every occupied slot by one encoder
frame: the encoder for that frame (one program: the layers' steps at their own frame rates, every op doing the work
of all the slots) and then the greedy decode of the frame, which evaluates the joint network ``iterations`` times
(1 + the most labels any slot emits at its frame; the prediction network, masked, before every evaluation but the
first) as the runtime's loop says: ``frame``, one program per evaluation driven by the host; ``label``, one program
that loops on the device. An utterance joins a free slot at the next round and leaves the batch after its last
frame, so slots never wait for the longest utterance of a batch (sequences join and leave as they finish).

A round's cost comes from the engine (:func:`accelsim.sim.execute.execute` of the round as a program), once per
machine and shape: :func:`round_cost` is the one memoised batch cost of this package (serving's batches have
theirs in :mod:`accelsim.sim.batch`). The slots a round runs are rounded up to a
*bucket* (:func:`bucket`), as a runtime that captures one CUDA graph (or engine profile) per batch size pads a batch
to the next size it has; the padded rows cost what real ones do. An utterance's features are copied to the device
when it joins, overlapped with the rounds before (not on a round's path).
"""

from __future__ import annotations

from accelsim.graph.lower import EncoderWork, Program, lower_device_program
from accelsim.sim.execute import execute
from accelsim.sim.target import Target
from accelsim.sim.totals import Totals
from accelsim.workload.model import Model

#: Batch sizes a round is padded to: powers of two below this, multiples of it from it on.
BUCKET_STEP = 64


def bucket(slots: int) -> int:
    """The batch size a round of ``slots`` occupied slots runs at (see the module docstring)."""
    if slots <= 0:
        return 0
    if slots < BUCKET_STEP:
        return 1 << (slots - 1).bit_length()
    return -(-slots // BUCKET_STEP) * BUCKET_STEP


def round_program(model: Model, slots: int, iterations: int) -> Program:
    """One round of ``slots`` slots whose greedy decode evaluates the joint ``iterations`` times (see the module
    docstring)."""
    encoder = EncoderWork(model.networks["encoder"], 1, model.lstm_quant, model.quantize,
                          projection=model.lstm_input_projection, biases=model.fetch_biases, batch=slots,
                          kernel=model.lstm_kernel, features=False)
    evaluations = [(0,)] + [(slots,)] * (iterations - 1)
    if model.greedy_loop == "label":
        evaluations = [tuple(p for group in evaluations for p in group)]
    return Program(encoder, tuple((f"it{i}.", lower_device_program(model, slots, predicts))
                                  for i, predicts in enumerate(evaluations)))


def round_cost(target: Target, model: Model, slots: int, iterations: int) -> Totals:
    """The totals of one round of ``slots`` slots (already a bucket) and ``iterations`` joint evaluations on
    ``target``, from the engine, memoised there: the batch cost every scenario of :mod:`accelsim.mlperf` uses."""
    return target.memo("mlperf rounds", 4096).get(
        (model, slots, iterations), lambda: execute(round_program(model, slots, iterations), target).totals)
