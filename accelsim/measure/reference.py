"""The reference runtime: a workload's encoder and one decode iteration computed for real, in numpy float32.

Weights are random (seeded) at the shapes of accelsim's built model (``accelsim.workload.model.build_model``): the
work is the model's, the numbers are not a trained network's. What each layer computes:

- ``lstm`` / ``blstm`` (PyTorch's gate order i, f, g, o): with ``runtime.lstm_input_projection: per_step`` one fused
  cell per step, ``[x_t, h_{t-1}] @ [W_ih, W_hh]^T``; with ``batched`` the input projection ``X @ W_ih^T`` over all
  frames at once, then ``h_{t-1} @ W_hh^T`` per step (none at t = 0, where h is 0), as ``accelsim/graph/lower.py``
  lowers them. A bidirectional layer runs the backward direction over the reversed frames.
- ``linear``: ``x @ W^T + b``.
- ``conv_subsampling``: two 3x3 stride-2 convolutions (im2col matmuls) with ReLU over the (time, feature) plane, then
  a linear over channels x feature bins; ``4T + 3`` input frames give ``T`` output frames.
- Conformer modules (Gulati et al. 2020): the half-step FFN (layer norm, W1, swish, W2, x 0.5, residual; the block's
  final layer norm after the second), multi-head self-attention with Transformer-XL relative positions (content
  scores ``(q + u) k^T``, position scores ``(q + v) p^T`` over the 2T - 1 relative distances, shifted into place),
  and the convolution module (layer norm, pointwise conv to 2d, GLU, depthwise conv with 'same' padding, batch
  norm folded into a scale and a shift, swish, pointwise conv, residual).

One decode iteration (:class:`Decoder`): the prediction network (and the LMs when fused) for the new label prefixes
with their parents' recurrent states, the joint network for every active hypothesis, score fusion, the top-k of the
beam over all candidates, the merge of the survivors by (parent, label) and the copy of their recurrent states.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable

import numpy as np
from scipy.special import expit

from accelsim.errors import AccelsimError
from accelsim.workload.model import Model, ModelLayer, Network

F32 = np.float32
EPS = 1e-5  # layer norm's epsilon (PyTorch's default)


class Unsupported(AccelsimError):
    """A layer the reference runtime cannot run (the message names it and what it can run)."""


# ---------------------------------------------------------------- parameters


def init_params(layer: ModelLayer, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random float32 tensors at the layer's shapes: weights ~ N(0, 1/fan_in), biases ~ N(0, 0.01), norm gains 1."""
    params = {name: (rng.standard_normal((rows, cols), dtype=F32) / F32(math.sqrt(cols)))
              for name, (rows, cols) in layer.spec.weights().items()}
    for name, size in _bias_shapes(layer).items():
        params[name] = (1.0 if name.endswith("_g") else 0.0) + 0.1 * rng.standard_normal(size, dtype=F32)
    return params


def _bias_shapes(layer: ModelLayer) -> dict[str, int]:
    """FP32 vectors of each kind (they add up to the layer's ``bias_params``)."""
    spec, kind = layer.spec, layer.kind
    if spec.recurrent or kind == "linear":
        return layer.bias_tensors()
    d = getattr(spec, "dim", 0)
    if kind == "conv_subsampling":
        return {"conv1_b": spec.channels, "conv2_b": spec.channels, "out_b": spec.output}
    if kind == "conformer_ffn":
        norms = ("ln", "final") if spec.final_norm else ("ln",)
        return {"b1": spec.ffn_mult * d, "b2": d} | {f"{n}_{s}": d for n in norms for s in "gb"}
    if kind == "conformer_mhsa":
        return {"bq": d, "bk": d, "bv": d, "bo": d, "ln_g": d, "ln_b": d, "u": d, "v": d}
    if kind == "conformer_conv":
        return {"pw1_b": 2 * d, "dw_b": d, "pw2_b": d, "ln_g": d, "ln_b": d, "bn_g": d, "bn_b": d}
    return {}


# ---------------------------------------------------------------- shared pieces


def lstm_cell(gates: np.ndarray, c: np.ndarray, h_out: np.ndarray) -> None:
    """One LSTM cell in place on the last axis: ``gates`` (i, f, g, o pre-activations, overwritten), ``c`` updated,
    the new h written into ``h_out``."""
    hid = c.shape[-1]
    i, f, g, o = (gates[..., k * hid:(k + 1) * hid] for k in range(4))
    expit(gates[..., :2 * hid], out=gates[..., :2 * hid])
    expit(o, out=o)
    np.tanh(g, out=g)
    c *= f
    np.multiply(i, g, out=i)
    c += i
    np.tanh(c, out=g)
    np.multiply(o, g, out=h_out)


def layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, -1, keepdims=True)
    return centred / np.sqrt(var + F32(EPS)) * gain + bias


def swish(x: np.ndarray) -> np.ndarray:
    return x * expit(x)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


# ---------------------------------------------------------------- encoder layers (a whole sequence)


def lstm_sequence(x: np.ndarray, weights: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
                  projection: str) -> np.ndarray:
    """One direction of an LSTM layer over the frames of ``x`` (T, in); returns h for every frame (T, H).

    ``per_step``: ``weights`` is the fused ``[W_ih, W_hh]^T`` (in + H, 4H); ``batched``: ``W_ih^T`` (in, 4H). ``recurrent``
    is ``W_hh^T`` (H, 4H), ``bias`` b_ih + b_hh."""
    frames, width = x.shape
    hid = recurrent.shape[0]
    out = np.empty((frames, hid), F32)
    c = np.zeros(hid, F32)
    gates = np.empty(4 * hid, F32)
    if projection == "per_step":
        xh = np.zeros(width + hid, F32)
        for t in range(frames):
            xh[:width] = x[t]
            np.matmul(xh, weights, out=gates)
            gates += bias
            lstm_cell(gates, c, xh[width:])
            out[t] = xh[width:]
        return out
    projected = x @ weights
    projected += bias
    for t in range(frames):
        if t:
            np.matmul(out[t - 1], recurrent, out=gates)
            gates += projected[t]
        else:
            gates[:] = projected[0]
        lstm_cell(gates, c, out[t])
    return out


class _Runner:
    """A layer of the encoder with its parameters and copies of its weights laid out for its kernels, made once (not
    timed): matmul weights transposed and contiguous; the second subsampling convolution's in the order of its
    channels-last patches; the depthwise convolution's one contiguous row per tap."""

    def __init__(self, layer: ModelLayer, params: dict[str, np.ndarray]):
        self.layer, self.p = layer, params
        self.t = {name: np.ascontiguousarray(w.T) for name, w in params.items() if w.ndim == 2}
        if layer.kind == "conv_subsampling":  # (out, in x 3 x 3) -> rows in (3, 3, in) order, as _run_conv_subsampling
            c = layer.spec.channels
            self.t["conv2"] = np.ascontiguousarray(params["conv2"].reshape(c, c, 3, 3).transpose(2, 3, 1, 0).reshape(9 * c, c))
        for d in layer.spec.direction_names() if layer.spec.recurrent else ():
            self.t[f"{d}fused"] = np.ascontiguousarray(np.concatenate([params[f"{d}W_ih"], params[f"{d}W_hh"]], axis=1).T)
            self.p[f"{d}bias"] = params[f"{d}b_ih"] + params[f"{d}b_hh"]


def _run_recurrent(r: _Runner, x: np.ndarray, projection: str) -> np.ndarray:
    outs = []
    for d in r.layer.spec.direction_names():
        seq = x if d != "bwd." else x[::-1]
        weights = r.t[f"{d}fused"] if projection == "per_step" else r.t[f"{d}W_ih"]
        h = lstm_sequence(seq, weights, r.t[f"{d}W_hh"], r.p[f"{d}bias"], projection)
        outs.append(h if d != "bwd." else h[::-1])
    return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)


def _run_linear(r: _Runner, x: np.ndarray, projection: str) -> np.ndarray:
    return x @ r.t["W"] + r.p["b"]


def _run_conv_subsampling(r: _Runner, x: np.ndarray, projection: str) -> np.ndarray:
    """x: (4T + 3, features) -> (T, output)."""
    windows = np.lib.stride_tricks.sliding_window_view
    c = r.layer.spec.channels
    patches = windows(x, (3, 3))[::2, ::2]  # (T1, F1, 3, 3)
    t1, f1 = patches.shape[:2]
    y = np.maximum(patches.reshape(t1 * f1, 9) @ r.t["conv1"] + r.p["conv1_b"], 0).reshape(t1, f1, c)
    patches = windows(y, (3, 3), axis=(0, 1))[::2, ::2].transpose(0, 1, 3, 4, 2)  # (T2, F2, 3, 3, C): channels last,
    t2, f2 = patches.shape[:2]  # so that the im2col copy moves runs of C contiguous values
    y = np.maximum(patches.reshape(t2 * f2, 9 * c) @ r.t["conv2"] + r.p["conv2_b"], 0).reshape(t2, f2, c)
    return y.transpose(0, 2, 1).reshape(t2, c * f2) @ r.t["out"] + r.p["out_b"]


def _run_ffn(r: _Runner, x: np.ndarray, projection: str) -> np.ndarray:
    y = swish(layer_norm(x, r.p["ln_g"], r.p["ln_b"]) @ r.t["W1"] + r.p["b1"])
    out = x + F32(0.5) * (y @ r.t["W2"] + r.p["b2"])
    return layer_norm(out, r.p["final_g"], r.p["final_b"]) if r.layer.spec.final_norm else out


@lru_cache(maxsize=64)
def relative_positions(frames: int, dim: int) -> np.ndarray:
    """Sinusoidal encodings of the relative distances i - j = T - 1 .. -(T - 1), one row each (2T - 1, dim); they
    depend on the length only, so a runtime computes them once per length (cached here: read-only)."""
    distance = np.arange(frames - 1, -frames, -1, dtype=np.float64)[:, None]
    freq = np.exp(-math.log(10000.0) * np.arange(0, dim, 2) / dim)[None, :]
    out = np.empty((2 * frames - 1, dim))
    out[:, 0::2], out[:, 1::2] = np.sin(distance * freq), np.cos(distance * freq[:, : dim // 2])
    out = out.astype(F32)
    out.flags.writeable = False
    return out


def relative_shift(position: np.ndarray) -> np.ndarray:
    """Transformer-XL's relative shift: ``out[h, i, j] = position[h, i, T - 1 - i + j]`` as a strided view of the
    (heads, T, 2T - 1) scores (row i starts T - 1 - i columns in, so rows step by 2T - 2 elements); the add that
    reads it does the gather, with no index arrays."""
    heads, frames, width = position.shape
    flat = np.ascontiguousarray(position).reshape(heads, frames * width)[:, frames - 1:]
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat, shape=(heads, frames, frames),
                                           strides=(frames * width * item, (width - 1) * item, item), writeable=False)


def _run_mhsa(r: _Runner, x: np.ndarray, projection: str) -> np.ndarray:
    frames, d = x.shape
    heads = r.layer.spec.heads
    dh = d // heads
    y = layer_norm(x, r.p["ln_g"], r.p["ln_b"])
    q, k, v = ((y @ r.t[w] + r.p[b]).reshape(frames, heads, dh).transpose(1, 0, 2)
               for w, b in (("Wq", "bq"), ("Wk", "bk"), ("Wv", "bv")))
    pos = (relative_positions(frames, d) @ r.t["Wpos"]).reshape(2 * frames - 1, heads, dh).transpose(1, 2, 0)
    content = (q + r.p["u"].reshape(heads, 1, dh)) @ k.transpose(0, 2, 1)
    position = (q + r.p["v"].reshape(heads, 1, dh)) @ pos  # (heads, T, 2T - 1), column = T - 1 - (i - j)
    position = relative_shift(position)
    attention = softmax((content + position) * F32(1 / math.sqrt(dh)))
    context = (attention @ v).transpose(1, 0, 2).reshape(frames, d)
    return x + context @ r.t["Wo"] + r.p["bo"]


def _run_conv_module(r: _Runner, x: np.ndarray, projection: str) -> np.ndarray:
    frames, d = x.shape
    kernel = r.layer.spec.kernel
    y = layer_norm(x, r.p["ln_g"], r.p["ln_b"]) @ r.t["pw1"] + r.p["pw1_b"]
    y = y[:, :d] * expit(y[:, d:])  # GLU
    padded = np.zeros((frames + kernel - 1, d), F32)
    left = (kernel - 1) // 2
    padded[left:left + frames] = y
    z = np.broadcast_to(r.p["dw_b"], (frames, d)).copy()
    for tap in range(kernel):
        z += padded[tap:tap + frames] * r.t["dw"][tap]
    z = swish(z * r.p["bn_g"] + r.p["bn_b"])
    return x + z @ r.t["pw2"] + r.p["pw2_b"]


SEQUENCE: dict[str, Callable[[_Runner, np.ndarray, str], np.ndarray]] = {
    "lstm": _run_recurrent, "blstm": _run_recurrent, "linear": _run_linear,
    "conv_subsampling": _run_conv_subsampling, "conformer_ffn": _run_ffn, "conformer_mhsa": _run_mhsa,
    "conformer_conv": _run_conv_module,
}


def _check(network: Network, kinds: dict | tuple, where: str) -> None:
    for layer in network.layers:
        if layer.kind not in kinds:
            raise Unsupported(f"model.{network.name}: layer {layer.name!r} is a {layer.kind} layer, which the reference "
                              f"runtime cannot run {where} (it runs {', '.join(sorted(kinds))})")
        p = layer.precision
        if p.weight_bits != 32 or p.act_bits != 32:
            raise Unsupported(f"model.{network.name}: layer {layer.name!r} has {p.weight_bits}-bit weights and "
                              f"{p.act_bits}-bit activations; the reference runtime computes in float32 (--precision fp32)")


def check_model(model: Model) -> None:
    """:class:`Unsupported` for a layer of ``model`` the reference runtime cannot run (or not in float32)."""
    _check(model.networks["encoder"], SEQUENCE, "in an encoder")
    joint = model.networks["joint"]
    _check(joint, JOINT, "in a joint network")
    if joint.layers[0].kind != "multiplicative_joint":
        raise Unsupported("model.joint: the reference runtime runs joint networks that start with a "
                          "multiplicative_joint layer")
    for name in ("prediction", "lm_ext", "lm_src"):
        if name in model.networks:
            _check(model.networks[name], STEP, "in a decoding network")


class Encoder:
    """The encoder of a built model, ready to run: ``encoder(features)`` -> its output sequence."""

    def __init__(self, model: Model, seed: int = 0):
        network = model.networks["encoder"]
        _check(network, SEQUENCE, "in an encoder")
        rng = np.random.default_rng(seed)
        self.network = network
        self.projection = model.lstm_input_projection
        self.runners = [_Runner(layer, init_params(layer, rng)) for layer in network.layers]

    def input_shape(self, frames: int) -> tuple[int, int]:
        """Feature frames and features per frame that give ``frames`` encoder frames."""
        first = self.network.layers[0].spec
        return (4 * frames + 3 if first.kind == "conv_subsampling" else frames), first.input

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for runner in self.runners:
            x = SEQUENCE[runner.layer.kind](runner, x, self.projection)
        return x

    def layers(self, x: np.ndarray) -> list[tuple[ModelLayer, Callable[[], np.ndarray]]]:
        """Each layer as a call on its own input, the previous layer's output (computed here, once)."""
        calls = []
        for runner in self.runners:
            call = partial(SEQUENCE[runner.layer.kind], runner, x, self.projection)
            calls.append((runner.layer, call))
            x = call()
        return calls


# ---------------------------------------------------------------- one decode iteration


@dataclass(frozen=True)
class IterationWork:
    """The counts of one ALSD iteration (``accelsim.workload.search.StepRecord``) the decoder runs."""

    active: int
    miss_prediction: int
    miss_lm: int
    kept: int

    @classmethod
    def typical(cls, steps) -> tuple[int, "IterationWork"]:
        """The most frequent work among a trace's steps (the first such iteration's index, and its work)."""
        works = [cls(s.active, s.miss_prediction, s.miss_lm, s.kept) for s in steps]
        common = Counter(works).most_common(1)[0][0]
        return works.index(common), common


STEP = ("embedding", "lstm", "linear", "log_softmax")
JOINT = ("multiplicative_joint", "linear", "log_softmax")


class _StepNetwork:
    """A prediction network or LM run for a few rows at a time, from the parents' recurrent states."""

    def __init__(self, network: Network, rng: np.random.Generator):
        self.runners = [_Runner(layer, init_params(layer, rng)) for layer in network.layers]

    def states(self, rows: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        """Random (h, c) of every LSTM layer for ``rows`` hypotheses."""
        return [tuple(rng.standard_normal((rows, r.layer.spec.hidden), dtype=F32) * F32(0.1) for _ in "hc")
                for r in self.runners if r.layer.kind == "lstm"]

    def __call__(self, labels: np.ndarray, states: list) -> np.ndarray:
        x, lstm = labels, 0
        for r in self.runners:
            kind = r.layer.kind
            if kind == "embedding":
                x = r.p["table"][x]
            elif kind == "lstm":
                h, c = states[lstm]
                gates = np.concatenate([x, h], axis=1) @ r.t["fused"]
                gates += r.p["bias"]
                c, x = c.copy(), np.empty_like(h)
                lstm_cell(gates, c, x)
                lstm += 1
            elif kind == "linear":
                x = x @ r.t["W"] + r.p["b"]
            else:
                x = log_softmax(x)
        return x


class Decoder:
    """One iteration of the beam search: the networks for the new prefixes, the joint for every active hypothesis,
    fusion, top-k, merge and the copy of the survivors' states (``iteration``: pure, so it can be timed again)."""

    def __init__(self, model: Model, beam: int, fusion: tuple[float, float, float] | None = None, seed: int = 1):
        rng = np.random.default_rng(seed)
        check_model(model)
        joint = model.networks["joint"]
        self.vocab, self.beam, self.fusion = model.vocab, beam, fusion
        self.prediction = _StepNetwork(model.networks["prediction"], rng)
        self.lms = [_StepNetwork(model.networks[n], rng) for n in ("lm_ext", "lm_src") if fusion and n in model.networks]
        self.joint = [_Runner(layer, init_params(layer, rng)) for layer in joint.layers[1:]]
        self.width = joint.layers[0].spec.dim

    def inputs(self, work: IterationWork, seed: int = 2) -> dict:
        """The state an iteration starts from: ``beam`` hypotheses' labels, scores, encoder frame, cached network
        outputs and recurrent states (random)."""
        rng = np.random.default_rng(seed)
        rows = max(self.beam, work.active)
        return {"labels": rng.integers(0, self.vocab, rows), "scores": rng.standard_normal(rows, dtype=F32),
                "encoded": rng.standard_normal((rows, self.width), dtype=F32),
                "predicted": rng.standard_normal((rows, self.width), dtype=F32),
                "lm_scores": [np.log(np.full((rows, self.vocab), 1 / self.vocab, F32)) for _ in self.lms],
                "states": [net.states(rows, rng) for net in (self.prediction, *self.lms)]}

    def iteration(self, work: IterationWork, s: dict) -> tuple[np.ndarray, np.ndarray, list]:
        """Returns the survivors' parents, labels and recurrent states."""
        a, p, m = work.active, work.miss_prediction, work.miss_lm
        predicted = s["predicted"][:a].copy()
        if p:
            predicted[:p] = self.prediction(s["labels"][:p], [(h[:p], c[:p]) for h, c in s["states"][0]])
        z = s["encoded"][:a] * predicted
        for r in self.joint:
            z = z @ r.t["W"] + r.p["b"] if r.layer.kind == "linear" else log_softmax(z)
        total = z + s["scores"][:a, None]
        if self.fusion:
            total += self._lm_scores(work, s)
        flat = total.ravel()
        k = min(self.beam, flat.size)
        best = np.argpartition(flat, flat.size - k)[flat.size - k:]
        best = best[np.argsort(-flat[best])][:work.kept or k]
        parents, labels = np.divmod(best, self.vocab)
        merged: dict = {}
        for key in zip(parents.tolist(), labels.tolist()):
            merged[key] = merged.get(key, 0) + 1
        copies = [[(h[parents], c[parents]) for h, c in net] for net in s["states"]]
        return parents, labels, copies

    def _lm_scores(self, work: IterationWork, s: dict) -> np.ndarray:
        mu, lam, rho = self.fusion  # type: ignore[misc]
        fresh = []
        for net, cached, states in zip(self.lms, s["lm_scores"], s["states"][1:]):
            scores = cached[:work.active].copy()
            if work.miss_lm:
                scores[:work.miss_lm] = net(s["labels"][:work.miss_lm], [(h[:work.miss_lm], c[:work.miss_lm])
                                                                          for h, c in states])
            fresh.append(scores)
        out = F32(mu) * fresh[0] - F32(lam) * fresh[1]
        out[:, 1:] += F32(rho)
        return out
