"""The reference encoder as an ONNX graph (``onnx.helper``), run by onnxruntime: the same layers and the same
weights as :class:`accelsim.measure.reference.Encoder`, so both compute the same output (a test compares them).

LSTM layers are ONNX ``LSTM`` ops (gate order i, o, f, c; the weights are reordered from PyTorch's i, f, g, o), which
onnxruntime runs with the input projection over all frames at once: its LSTM is always the ``batched`` form, whatever
the workload's ``runtime.lstm_input_projection`` says. Everything else is built from plain ops (Gemm, Conv,
LayerNormalization, MatMul, Softmax, GatherElements). Needs the optional extra: ``pip install 'accelsim[measure]'``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from accelsim.errors import AccelsimError
from accelsim.measure.reference import Encoder, _Runner, relative_positions

OPSET = 17  # LayerNormalization
ONNX_GATES = [0, 3, 1, 2]  # ONNX's i, o, f, c taken from PyTorch's i, f, g, o blocks


def onnx_encoder(encoder: Encoder, threads: int = 1, frames: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """An onnxruntime session of ``encoder`` for inputs of ``frames`` encoder frames, as a function of the features."""
    ort = require_onnxruntime()
    model = encoder_model(encoder, frames)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"features": x})[0]


def require_onnxruntime():
    """The onnxruntime module, or one clear error saying how to install it (with onnx)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        raise AccelsimError("--onnxruntime needs onnxruntime and onnx: pip install 'accelsim[measure]'") from None
    return onnxruntime


def encoder_model(encoder: Encoder, frames: int | None = None):
    """The ONNX ModelProto of ``encoder`` (static shapes: attention needs the frame count, ``frames``)."""
    from onnx import TensorProto, checker, helper

    g = _Graph()
    x = "features"
    for runner in encoder.runners:
        x = _LAYERS[runner.layer.kind](g, runner, x, frames)
    width = encoder.input_shape(frames or 1)[1]
    graph = helper.make_graph(g.nodes, "encoder", [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, width])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [None, None])], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    checker.check_model(model)
    return model


class _Graph:
    """Nodes and initializers, each output a fresh name."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def const(self, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, outputs: int = 1, **attrs):
        from onnx import helper

        names = [f"t{self.count + i}" for i in range(outputs)]
        self.count += outputs
        self.nodes.append(helper.make_node(kind, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def gemm(self, x: str, w: np.ndarray, b: np.ndarray | None = None) -> str:
        """x @ w^T (+ b) for a (rows, cols) weight in PyTorch's layout."""
        inputs = [x, self.const(w)] + ([self.const(b)] if b is not None else [])
        return self.op("Gemm", *inputs, transB=1)

    def norm(self, x: str, gain: np.ndarray, bias: np.ndarray) -> str:
        return self.op("LayerNormalization", x, self.const(gain), self.const(bias), axis=-1, epsilon=1e-5)

    def swish(self, x: str) -> str:
        return self.op("Mul", x, self.op("Sigmoid", x))

    def shape(self, *dims: int) -> str:
        return self.const(np.array(dims, np.int64))


def _lstm(g: _Graph, r: _Runner, x: str, frames) -> str:
    spec = r.layer.spec
    dirs, hid = spec.direction_names(), spec.hidden

    def gates(w):  # (4H, k) in i, f, g, o -> i, o, f, c
        return w.reshape(4, hid, -1)[ONNX_GATES].reshape(4 * hid, -1)

    w = np.stack([gates(r.p[f"{d}W_ih"]) for d in dirs])
    rec = np.stack([gates(r.p[f"{d}W_hh"]) for d in dirs])
    b = np.stack([np.concatenate([gates(r.p[f"{d}b_ih"][:, None])[:, 0], gates(r.p[f"{d}b_hh"][:, None])[:, 0]])
                  for d in dirs])
    y = g.op("LSTM", g.op("Unsqueeze", x, g.shape(1)), g.const(w), g.const(rec), g.const(b), hidden_size=hid,
             direction="forward" if len(dirs) == 1 else "bidirectional")
    return g.op("Reshape", g.op("Transpose", y, perm=[0, 2, 1, 3]), g.shape(-1, len(dirs) * hid))


def _linear(g: _Graph, r: _Runner, x: str, frames) -> str:
    return g.gemm(x, r.p["W"], r.p["b"])


def _conv_subsampling(g: _Graph, r: _Runner, x: str, frames) -> str:
    c = r.layer.spec.channels
    y = g.op("Unsqueeze", x, g.shape(0, 1))
    y = g.op("Relu", g.op("Conv", y, g.const(r.p["conv1"].reshape(c, 1, 3, 3)), g.const(r.p["conv1_b"]), strides=[2, 2]))
    y = g.op("Relu", g.op("Conv", y, g.const(r.p["conv2"].reshape(c, c, 3, 3)), g.const(r.p["conv2_b"]), strides=[2, 2]))
    y = g.op("Reshape", g.op("Transpose", y, perm=[0, 2, 1, 3]), g.shape(-1, r.p["out"].shape[1]))
    return g.gemm(y, r.p["out"], r.p["out_b"])


def _ffn(g: _Graph, r: _Runner, x: str, frames) -> str:
    y = g.swish(g.gemm(g.norm(x, r.p["ln_g"], r.p["ln_b"]), r.p["W1"], r.p["b1"]))
    y = g.op("Add", x, g.op("Mul", g.gemm(y, r.p["W2"], r.p["b2"]), g.const(np.float32(0.5))))
    return g.norm(y, r.p["final_g"], r.p["final_b"]) if r.layer.spec.final_norm else y


def _mhsa(g: _Graph, r: _Runner, x: str, frames) -> str:
    if frames is None:
        raise AccelsimError("the ONNX graph of self-attention needs the frame count")
    d, heads = r.layer.spec.dim, r.layer.spec.heads
    dh = d // heads
    y = g.norm(x, r.p["ln_g"], r.p["ln_b"])
    q, k, v = (g.op("Transpose", g.op("Reshape", g.gemm(y, r.p[w], r.p[b]), g.shape(frames, heads, dh)), perm=[1, 0, 2])
               for w, b in (("Wq", "bq"), ("Wk", "bk"), ("Wv", "bv")))
    pos = g.op("MatMul", g.const(relative_positions(frames, d)), g.const(np.ascontiguousarray(r.p["Wpos"].T)))
    pos = g.op("Transpose", g.op("Reshape", pos, g.shape(2 * frames - 1, heads, dh)), perm=[1, 2, 0])
    content = g.op("MatMul", g.op("Add", q, g.const(r.p["u"].reshape(heads, 1, dh))), g.op("Transpose", k, perm=[0, 2, 1]))
    position = g.op("MatMul", g.op("Add", q, g.const(r.p["v"].reshape(heads, 1, dh))), pos)
    shift = frames - 1 - np.arange(frames)[:, None] + np.arange(frames)[None, :]
    position = g.op("GatherElements", position, g.const(np.broadcast_to(shift, (heads, frames, frames)).astype(np.int64)),
                    axis=2)
    scores = g.op("Mul", g.op("Add", content, position), g.const(np.float32(1 / math.sqrt(dh))))
    context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
    context = g.op("Reshape", g.op("Transpose", context, perm=[1, 0, 2]), g.shape(frames, d))
    return g.op("Add", x, g.gemm(context, r.p["Wo"], r.p["bo"]))


def _conv_module(g: _Graph, r: _Runner, x: str, frames) -> str:
    d, kernel = r.layer.spec.dim, r.layer.spec.kernel
    y = g.gemm(g.norm(x, r.p["ln_g"], r.p["ln_b"]), r.p["pw1"], r.p["pw1_b"])
    a, b = g.op("Split", y, g.shape(d, d), outputs=2, axis=1)
    y = g.op("Unsqueeze", g.op("Transpose", g.op("Mul", a, g.op("Sigmoid", b)), perm=[1, 0]), g.shape(0))  # (1, d, T)
    left = (kernel - 1) // 2
    y = g.op("Conv", y, g.const(r.p["dw"].reshape(d, 1, kernel)), g.const(r.p["dw_b"]), group=d,
             pads=[left, kernel - 1 - left])
    y = g.op("Transpose", g.op("Squeeze", y, g.shape(0)), perm=[1, 0])
    y = g.swish(g.op("Add", g.op("Mul", y, g.const(r.p["bn_g"])), g.const(r.p["bn_b"])))
    return g.op("Add", x, g.gemm(y, r.p["pw2"], r.p["pw2_b"]))


_LAYERS = {"lstm": _lstm, "blstm": _lstm, "linear": _linear, "conv_subsampling": _conv_subsampling,
           "conformer_ffn": _ffn, "conformer_mhsa": _mhsa, "conformer_conv": _conv_module}
