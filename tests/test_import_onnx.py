"""`accelsim import`: small transducers built here with onnx.helper (no downloads) become workloads whose parameters are
exactly the graphs' initializers and which simulate as the equivalent hand-written YAML does."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

import accelsim
from accelsim.errors import AccelsimError

onnx = pytest.importorskip("onnx", reason="accelsim import needs the onnx package (pip install -e '.[onnx]')")

from accelsim.importer import import_onnx  # noqa: E402
from onnx_models import (D, DIM, EMBED, FEATURES, HEADS, HIDDEN, KERNEL, PRED, VOCAB, Builder, float_input,  # noqa: E402
                         conformer_files, lstm_transducer, qdq_files)


HAND_WRITTEN = {
    "name": "hand_written", "utterance": {"frames": 150, "frame_shift": "20 ms"},
    "model": {"vocab": VOCAB,
              "encoder": {"layers": [{"kind": "blstm", "name": "blstm", "input": FEATURES, "hidden": HIDDEN, "count": 2},
                                     {"kind": "linear", "name": "out", "input": 2 * HIDDEN, "output": DIM}]},
              "prediction": {"layers": [{"kind": "embedding", "name": "embedding", "vocab": VOCAB, "dim": EMBED},
                                        {"kind": "lstm", "name": "lstm", "input": EMBED, "hidden": PRED},
                                        {"kind": "linear", "name": "out", "input": PRED, "output": DIM}]},
              "joint": {"layers": [{"kind": "multiplicative_joint", "name": "combine", "dim": DIM},
                                   {"kind": "linear", "name": "out", "input": DIM, "output": VOCAB},
                                   {"kind": "log_softmax", "name": "log_softmax", "dim": VOCAB}]}},
    "decoding": {"beam": 4, "lm_fusion": False},
}


def _params(spec) -> int:
    return sum(layer.params() for net in ("encoder", "prediction", "joint") for layer in getattr(spec.model, net).layers)


def _write(imported, tmp_path, name="imported"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(imported.yaml_text(name, 150, "20 ms"))
    return path


def test_lstm_transducer_is_split_by_structure_and_counts_every_parameter(tmp_path):
    path, params = lstm_transducer(tmp_path / "rnnt.onnx")
    imported = import_onnx([path])
    assert [layer["kind"] for layer in imported.networks["encoder"].layers] == ["blstm", "blstm", "linear"]
    assert [layer["kind"] for layer in imported.networks["prediction"].layers] == ["embedding", "lstm", "linear"]
    assert [layer["kind"] for layer in imported.networks["joint"].layers] == ["multiplicative_joint", "linear", "log_softmax"]
    spec = accelsim.load_workload(_write(imported, tmp_path))
    assert _params(spec) == params  # exactly the initializers' elements (shapes and axes are not parameters)
    assert spec.model.vocab == VOCAB and imported.warnings == []


@pytest.mark.parametrize("precision", ["fp32", "int8", "int4"])
def test_imported_lstm_transducer_simulates_as_the_hand_written_yaml(tmp_path, hw_path, precision):
    """Same layers, shapes and precision: the same simulated RTF and breakdowns, to the last digit."""
    path, _ = lstm_transducer(tmp_path / "rnnt.onnx")
    imported = accelsim.load_workload(_write(import_onnx([path]), tmp_path))
    hand = accelsim.load_workload(_yaml_file(tmp_path, HAND_WRITTEN))
    a = accelsim.simulate(imported, hw_path, precision=precision, keep_records=False)
    b = accelsim.simulate(hand, hw_path, precision=precision, keep_records=False)
    assert a.rtf > 0 and a.rtf == pytest.approx(b.rtf, rel=1e-12)
    assert a.breakdown_by_component == pytest.approx(b.breakdown_by_component, rel=1e-12)
    assert a.model_size_MB == pytest.approx(b.model_size_MB, rel=1e-12)


def _yaml_file(tmp_path, data):
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_parts_by_names_and_by_prefixes(tmp_path):
    path, params = lstm_transducer(tmp_path / "named.onnx", names=True)
    by_structure = import_onnx([path])
    by_prefix = import_onnx([path], {"encoder": "encoder/", "prediction": "decoder/", "joint": "joiner/"})
    for part in ("encoder", "prediction", "joint"):
        assert by_prefix.networks[part].layers == by_structure.networks[part].layers
    with pytest.raises(AccelsimError, match="go together"):
        import_onnx([path], {"encoder": "encoder/", "prediction": None, "joint": None})
    with pytest.raises(AccelsimError, match="begins with none of the prefixes"):
        import_onnx([path], {"encoder": "enc_x", "prediction": "decoder/", "joint": "joiner/"})


# ---------------------------------------------------------------- one file per part: a Conformer block and a joiner


def test_conformer_block_and_joiner_from_three_files(tmp_path, hw_path):
    paths, params = conformer_files(tmp_path)
    imported = import_onnx(paths)
    kinds = [layer["kind"] for layer in imported.networks["encoder"].layers]
    assert kinds.count("attention") == 1 and kinds.count("layer_norm") == 5 and kinds.count("conv1d") == 3
    attention = next(layer for layer in imported.networks["encoder"].layers if layer["kind"] == "attention")
    assert attention["heads"] == HEADS and attention["dim"] == D
    depthwise = [layer for layer in imported.networks["encoder"].layers if layer["kind"] == "conv1d"][1]
    assert depthwise["groups"] == D and depthwise["kernel"] == KERNEL
    # The joiner's projections end the encoder and the prediction network; the joint starts where they meet.
    assert imported.networks["encoder"].layers[-1]["name"] == "enc_proj"
    assert imported.networks["prediction"].layers[-1]["name"] == "dec_proj"
    assert [layer["kind"] for layer in imported.networks["joint"].layers] == ["additive_joint", "elementwise", "linear"]
    spec = accelsim.load_workload(_write(imported, tmp_path))
    assert _params(spec) == params
    result = accelsim.simulate(spec, hw_path, keep_records=False, overrides=["workload.utterance.frames=24"])
    assert result.rtf > 0 and result.breakdown_by_component["encoder"] > 0


def test_gru_encoder(tmp_path):
    paths, _ = conformer_files(tmp_path)
    b = Builder()
    x = b.lstm("features", "gru", FEATURES, HIDDEN, 2, gates=3, op="GRU")
    x = b.linear(x, "proj", 2 * HIDDEN, D)
    encoder = b.model([float_input("features", "T", 1, FEATURES)], [float_input(x, None, 1, D)], tmp_path / "gru.onnx")
    others = sum(math.prod(t.dims) for p in paths[1:] for t in onnx.load(p).graph.initializer if t.data_type == 1)
    imported = import_onnx([encoder, *paths[1:]])
    assert [layer["kind"] for layer in imported.networks["encoder"].layers] == ["bgru", "linear", "linear"]
    spec = accelsim.load_workload(_write(imported, tmp_path))
    assert _params(spec) == b.params + others
    assert spec.model.encoder.layers[0].params() == 2 * (3 * HIDDEN * (FEATURES + HIDDEN) + 6 * HIDDEN)


# ---------------------------------------------------------------- quantized graphs


@pytest.mark.parametrize("dynamic", [False, True])
def test_qdq_int8_linear_gets_its_bits(tmp_path, dynamic):
    paths, params = qdq_files(tmp_path, dynamic)
    imported = import_onnx(paths)
    front = imported.networks["encoder"].layers[0]
    assert front["kind"] == "linear" and front["input"] == FEATURES and front["output"] == D
    (override,) = [o for o in imported.networks["encoder"].precision if o["layer"] == front["name"]]
    assert (override["weight_bits"], override["act_bits"]) == (8, 8)
    assert override["act_quantizer"] == ("MAX" if dynamic else "FIX")
    spec = accelsim.load_workload(_write(imported, tmp_path))
    front_layers = [layer for layer in spec.model.encoder.layers if layer.name != "enc_proj"]  # the joiner's projection
    assert sum(layer.params() for layer in front_layers) == params
    from accelsim.workload.model import build_model

    layer = build_model(spec).networks["encoder"].layers[0]
    assert layer.precision.weight_bits == 8 and layer.stored_bytes == FEATURES * D + D * 4  # int8 weights, FP32 bias
    assert [layer.kind for layer in spec.model.encoder.layers] == ["linear", "linear"]  # + the joiner's projection


# ---------------------------------------------------------------- what cannot be mapped


def _with_op(tmp_path, op_type: str, **attrs):
    b = Builder()
    y = b.op(op_type, [b.linear("x", "front", FEATURES, D)], "odd", **attrs)
    paths, _ = conformer_files(tmp_path)
    encoder = b.model([float_input("x", 1, "T", FEATURES)], [float_input(y, 1, None, D)], tmp_path / "front.onnx")
    return [encoder, *paths[1:]]


def test_an_op_without_a_layer_is_one_error_naming_the_node(tmp_path):
    paths = _with_op(tmp_path, "Celu")
    with pytest.raises(AccelsimError, match=r"node 'odd' \(Celu\): accelsim has no layer for this op; --as-elementwise Celu"):
        import_onnx(paths)


def test_an_op_counted_as_elementwise_work_on_request_with_a_warning(tmp_path):
    imported = import_onnx(_with_op(tmp_path, "Celu"), elementwise=frozenset({"Celu"}))
    assert imported.networks["encoder"].layers[1] == {"kind": "elementwise", "name": "odd", "input": D, "ops": 1,
                                                      "fp32_params": 0}
    assert any("'odd' (Celu) counted as element-wise work" in w for w in imported.warnings)


def test_a_strided_convolution_is_refused_naming_the_node(tmp_path):
    b = Builder()
    y = b.op("Conv", ["x", b.weight("W", D, FEATURES, 3)], "subsample", strides=[2])
    paths, _ = conformer_files(tmp_path)
    encoder = b.model([float_input("x", 1, FEATURES, "T")], [float_input(y, 1, D, None)], tmp_path / "front.onnx")
    with pytest.raises(AccelsimError, match=r"node 'subsample' \(Conv\).*strides \[2\]"):
        import_onnx([encoder, *paths[1:]])


def test_without_onnx_the_error_says_what_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(AccelsimError, match=r"pip install 'accelsim\[onnx\]'"):
        import_onnx([tmp_path / "x.onnx"])


# ---------------------------------------------------------------- the command


def test_import_command_writes_a_workload_that_runs(run_cli, tmp_path):
    path, params = lstm_transducer(tmp_path / "rnnt.onnx")
    out = tmp_path / "workloads" / "mine.yaml"
    proc = run_cli("import", path, "--out", out, "--frames", 40)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout and "blstm x2" in proc.stdout
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=") and f"{params:,} parameters" in text
    schema = (out.parent / text.splitlines()[0].split("=", 1)[1]).resolve()
    assert schema.name == "workload.schema.json" and schema.is_file()
    run = run_cli("run", out, "--precision", "int8", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["rtf"] > 0


@pytest.mark.parametrize(("args", "says"), [
    (["nothing.onnx"], "nothing.onnx: no such file"),
    (["README.md"], "README.md: not an ONNX model"),
    (["a.onnx", "b.onnx"], "one ONNX file (the whole transducer) or three"),
])
def test_import_command_bad_input_is_one_line(run_cli, tmp_path, args, says):
    if args[0] == "a.onnx":
        path, _ = lstm_transducer(tmp_path / "a.onnx")
        args = [path, path]
    proc = run_cli("import", *args, "--out", tmp_path / "x.yaml")
    assert proc.returncode == 2 and says in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_the_readme_example_is_what_the_builder_makes(repo, tmp_path):
    """examples/tiny_rnnt.onnx is `python tests/onnx_models.py examples/tiny_rnnt.onnx` (nodes, initializer names and
    shapes; the seeded values may differ between numpy versions)."""
    def structure(path):
        graph = onnx.load(str(path)).graph
        return ([(n.op_type, n.name, list(n.input), list(n.output)) for n in graph.node],
                [(t.name, list(t.dims), t.data_type) for t in graph.initializer])

    built, _ = lstm_transducer(tmp_path / "tiny.onnx", hidden=16, pred=16)
    assert structure(repo / "examples" / "tiny_rnnt.onnx") == structure(built)
