"""Small transducers built with onnx.helper, for the importer's tests and the README's example (no downloads).

    python tests/onnx_models.py examples/tiny_rnnt.onnx     # writes the README's example (the committed one)

Each builder returns the file(s) written and the parameters its initializers hold (shapes, axes and scalar constants
are not parameters).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    """A graph under construction: nodes, initializers (seeded values) and the parameters they hold."""

    def __init__(self):
        self.nodes, self.inits, self.rng, self.params = [], [], np.random.default_rng(0), 0

    def weight(self, name: str, *shape: int, dtype=np.float32) -> str:
        """A parameter initializer (counted in ``params``)."""
        data = self.rng.integers(-8, 8, shape) if np.issubdtype(dtype, np.integer) else self.rng.standard_normal(shape)
        self.inits.append(numpy_helper.from_array(np.asarray(data, dtype=dtype), name))
        self.params += math.prod(shape)
        return name

    def const(self, name: str, value, dtype=np.int64) -> str:
        """A constant that is not a parameter (a shape, axes, a scalar scale)."""
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, outputs: int = 1, **attrs) -> str | list[str]:
        outs = [f"{name}_out{i}" if outputs > 1 else f"{name}_out" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs if outputs > 1 else outs[0]

    def linear(self, x: str, name: str, inputs: int, outputs: int, bias: bool = True) -> str:
        y = self.op("MatMul", [x, self.weight(f"{name}.W", inputs, outputs)], name)
        return self.op("Add", [y, self.weight(f"{name}.b", outputs)], f"{name}_bias") if bias else y

    def lstm(self, x: str, name: str, inputs: int, hidden: int, directions: int = 1, gates: int = 4, op: str = "LSTM") -> str:
        w = self.weight(f"{name}.W", directions, gates * hidden, inputs)
        r = self.weight(f"{name}.R", directions, gates * hidden, hidden)
        b = self.weight(f"{name}.B", directions, 2 * gates * hidden)
        y = self.op(op, [x, w, r, b], name, hidden_size=hidden,
                    direction="bidirectional" if directions == 2 else "forward")  # Y: [T, dirs, B, H]
        y = self.op("Transpose", [y], f"{name}_t", perm=[0, 2, 1, 3])
        return self.op("Reshape", [y, self.const(f"{name}.shape", [0, 0, -1])], f"{name}_r")

    def model(self, inputs: list, outputs: list, path) -> str:
        graph = helper.make_graph(self.nodes, "g", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return str(path)


def float_input(name, *shape):
    """A float graph input or output (None or a name for a dimension the graph leaves open)."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


FEATURES, HIDDEN, DIM, EMBED, PRED, VOCAB = 20, 32, 24, 8, 40, 30


def lstm_transducer(path, names: bool = False, hidden: int = HIDDEN, pred: int = PRED):
    """2 BLSTM + linear encoder, embedding + LSTM + linear prediction network, multiplicative joint, one graph."""
    b = Builder()
    p = "encoder/" if names else ""
    x = b.lstm("features", f"{p}blstm1", FEATURES, hidden, 2)
    x = b.lstm(x, f"{p}blstm2", 2 * hidden, hidden, 2)
    enc = b.op("Unsqueeze", [b.linear(x, f"{p}enc_out", 2 * hidden, DIM), b.const("ax1", [1])], f"{p}enc_u")
    p = "decoder/" if names else ""
    y = b.op("Gather", [b.weight(f"{p}embedding", VOCAB, EMBED), "labels"], f"{p}embed")
    y = b.lstm(y, f"{p}lstm", EMBED, pred)
    pred_out = b.op("Unsqueeze", [b.linear(y, f"{p}pred_out", pred, DIM), b.const("ax0", [0])], f"{p}pred_u")
    p = "joiner/" if names else ""
    z = b.op("Mul", [enc, pred_out], f"{p}combine")
    z = b.op("LogSoftmax", [b.linear(z, f"{p}out", DIM, VOCAB)], f"{p}log_softmax", axis=-1)
    labels = helper.make_tensor_value_info("labels", TensorProto.INT64, ["U", 1])
    return b.model([float_input("features", "T", 1, FEATURES), labels], [float_input(z, None, None, None, VOCAB)], path), b.params


D, HEADS, FFN, KERNEL = 16, 4, 64, 5


def _layer_norm(b, x, name):
    return b.op("LayerNormalization", [x, b.weight(f"{name}.scale", D), b.weight(f"{name}.bias", D)], name, axis=-1)


def _ffn(b, x, name):
    y = b.linear(_layer_norm(b, x, f"{name}.norm"), f"{name}.w1", D, FFN)
    y = b.op("Mul", [y, b.op("Sigmoid", [y], f"{name}.sig")], f"{name}.swish")
    y = b.op("Mul", [b.linear(y, f"{name}.w2", FFN, D), b.const(f"{name}.half", 0.5, np.float32)], f"{name}.half")
    return b.op("Add", [x, y], f"{name}.residual")


def _heads(b, x, name):
    x = b.op("Reshape", [x, b.const(f"{name}.shape", [1, -1, HEADS, D // HEADS])], f"{name}.split")
    return b.op("Transpose", [x], f"{name}.heads", perm=[0, 2, 1, 3])  # [1, H, T, dh]


def _mhsa(b, x, name):
    y = _layer_norm(b, x, f"{name}.norm")
    q, k, v = (_heads(b, b.linear(y, f"{name}.{w}", D, D), f"{name}.{w}") for w in ("q", "k", "v"))
    kt = b.op("Transpose", [k], f"{name}.kt", perm=[0, 1, 3, 2])
    scores = b.op("Div", [b.op("MatMul", [q, kt], f"{name}.scores"), b.const(f"{name}.scale", 2.0, np.float32)],
                  f"{name}.scaled")
    context = b.op("MatMul", [b.op("Softmax", [scores], f"{name}.softmax", axis=-1), v], f"{name}.context")
    context = b.op("Transpose", [context], f"{name}.merge", perm=[0, 2, 1, 3])
    context = b.op("Reshape", [context, b.const(f"{name}.back", [1, -1, D])], f"{name}.joined")
    return b.op("Add", [x, b.linear(context, f"{name}.out", D, D)], f"{name}.residual")


def _conv_module(b, x, name):
    y = b.op("Transpose", [_layer_norm(b, x, f"{name}.norm")], f"{name}.to_channels", perm=[0, 2, 1])
    y = b.op("Conv", [y, b.weight(f"{name}.pw1.W", 2 * D, D, 1), b.weight(f"{name}.pw1.b", 2 * D)], f"{name}.pw1")
    a, g = b.op("Split", [y], f"{name}.glu_split", outputs=2, axis=1)
    y = b.op("Mul", [a, b.op("Sigmoid", [g], f"{name}.glu_gate")], f"{name}.glu")
    y = b.op("Conv", [y, b.weight(f"{name}.dw.W", D, 1, KERNEL), b.weight(f"{name}.dw.b", D)], f"{name}.dw", group=D,
             pads=[KERNEL // 2, KERNEL // 2])
    y = b.op("BatchNormalization", [y, *(b.weight(f"{name}.bn.{s}", D) for s in ("scale", "bias", "mean", "var"))],
             f"{name}.bn")
    y = b.op("Mul", [y, b.op("Sigmoid", [y], f"{name}.swish_gate")], f"{name}.swish")
    y = b.op("Conv", [y, b.weight(f"{name}.pw2.W", D, D, 1), b.weight(f"{name}.pw2.b", D)], f"{name}.pw2")
    y = b.op("Transpose", [y], f"{name}.to_frames", perm=[0, 2, 1])
    return b.op("Add", [x, y], f"{name}.residual")


def conformer_files(tmp_path):
    """encoder.onnx: one Conformer block (FFN/2, MHSA, convolution module, FFN/2, layer norm); decoder.onnx: embedding,
    LSTM and projection; joiner.onnx: projections of both inputs, sum, tanh, output linear (as icefall exports them)."""
    b = Builder()
    x = _ffn(b, "x", "ffn1")
    x = _ffn(b, _conv_module(b, _mhsa(b, x, "mhsa"), "conv"), "ffn2")
    x = _layer_norm(b, x, "final_norm")
    encoder = b.model([float_input("x", 1, "T", D)], [float_input(x, 1, None, D)], tmp_path / "encoder.onnx")
    counted = b.params
    b = Builder()
    y = b.op("Gather", [b.weight("embedding", VOCAB, EMBED), "y"], "embed")
    y = b.linear(b.lstm(y, "lstm", EMBED, PRED), "proj", PRED, D)
    decoder = b.model([helper.make_tensor_value_info("y", TensorProto.INT64, ["U", 1])], [float_input(y, None, None, D)],
                      tmp_path / "decoder.onnx")
    counted += b.params
    b = Builder()
    z = b.op("Add", [b.linear("encoder_out", "enc_proj", D, DIM), b.linear("decoder_out", "dec_proj", D, DIM)], "sum")
    z = b.linear(b.op("Tanh", [z], "tanh"), "output", DIM, VOCAB)
    joiner = b.model([float_input("encoder_out", 1, D), float_input("decoder_out", 1, D)], [float_input(z, 1, VOCAB)],
                     tmp_path / "joiner.onnx")
    return [encoder, decoder, joiner], counted + b.params


def qdq_files(tmp_path, dynamic: bool = False):
    """The Conformer files with an int8 encoder in front: a QDQ linear (QuantizeLinear, DequantizeLinear of int8
    weights, MatMul), or with ``dynamic`` a DynamicQuantizeLinear and MatMulInteger."""
    b = Builder()
    w = b.weight("front.W", FEATURES, D, dtype=np.int8)
    scale, zero = b.const("s", 0.05, np.float32), b.const("z", 0, np.int8)
    if dynamic:
        xq, xs, xz = b.op("DynamicQuantizeLinear", ["x"], "dq", outputs=3)
        y = b.op("MatMulInteger", [xq, w, xz], "front")
        y = b.op("Mul", [b.op("Cast", [y], "cast", to=TensorProto.FLOAT), b.op("Mul", [xs, scale], "scales")], "rescale")
    else:
        x = b.op("DequantizeLinear", [b.op("QuantizeLinear", ["x", scale, zero], "q"), scale, zero], "dqx")
        y = b.op("MatMul", [x, b.op("DequantizeLinear", [w, scale, zero], "dqw")], "front")
    y = b.op("Add", [y, b.weight("front.b", D)], "front_bias")
    paths, _ = conformer_files(tmp_path)
    encoder = b.model([float_input("x", 1, "T", FEATURES)], [float_input(y, 1, None, D)], tmp_path / "front.onnx")
    return [encoder, *paths[1:]], b.params




if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/tiny_rnnt.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    lstm_transducer(out, hidden=16, pred=16)
    print(f"wrote {out}")
