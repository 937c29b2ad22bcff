"""Model library, precision presets and model size (accelsim/workload/) against the paper and hand counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import accelsim
from accelsim.spec.loader import Variation, flag_variation
from accelsim.workload.model import BIAS_BITS, build_model, model_size
from accelsim.spec.precision import PRESETS

DATA = Path(__file__).parent / "data" / "paper_table1.yaml"
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper_targets.yaml"

TABLE1 = yaml.safe_load(DATA.read_text(encoding="utf-8"))["table1"]

#: Table 1's bit labels -> accelsim precision presets (RNN-T column, LM columns).
RNNT_PRESET = {"32/32": "fp32", "4/4": "int4", "2/4": "w2a4"}
LM_PRESET = {"32/32": "fp32", "8/8": "int8", "4/4": "int4"}

SIZE_TOL = 0.03  # Table 1 sizes and compression ratios: within 3%
PARAMS_TOL = 0.02  # Sec. 2 parameter counts (given to 0.1 M): within 2%


def _row_id(row: dict) -> str:
    return f"rnnt{row['rnnt']}-ext{row['lm_ext']}-src{row['lm_src']}".replace("/", "_")


def load_with(workload_path: Path, precision: str | None = None, extra: tuple[str, ...] = ()):
    overrides = Variation.from_flags(extra) + flag_variation(precision=precision)
    return accelsim.load_workload(workload_path, overrides=overrides)


# ---------------------------------------------------------------- the data file


def test_table1_data_file_is_complete():
    assert len(TABLE1) == 9
    for row in TABLE1:
        assert row["rnnt"] in RNNT_PRESET
        assert (row["lm_ext"] is None) == (row["lm_src"] is None)
        assert row["size_MB"] > 0 and row["compression"] >= 1.0


@pytest.mark.skipif(not SHARED_REFERENCE.exists(), reason="shared/reference is not beside this checkout")
def test_table1_data_file_matches_the_shared_reference():
    reference = yaml.safe_load(SHARED_REFERENCE.read_text(encoding="utf-8"))["table1"]
    keys = ("rnnt", "lm_ext", "lm_src", "size_MB", "compression")
    assert [{k: r.get(k) for k in keys} for r in reference] == [{k: r.get(k) for k in keys} for r in TABLE1]


# ---------------------------------------------------------------- parameter counts (Sec. 2)


@pytest.mark.parametrize(
    ("network", "paper_M"),
    [("encoder", 54.6), ("prediction", 2.6), ("lm_ext", 51.0), ("lm_src", 2.6)],
)
def test_parameter_counts_match_the_paper(workload_spec, network, paper_M):
    model = build_model(workload_spec, with_lms=True)
    assert model.networks[network].params / 1e6 == pytest.approx(paper_M, rel=PARAMS_TOL)


def test_rnnt_parameter_count_matches_the_paper(workload_spec):
    """Sec. 2: 'the RNN-T comprises 57.2 M parameters'."""
    model = build_model(workload_spec, with_lms=False)
    assert set(model.networks) == {"encoder", "prediction", "joint"}
    assert model.params / 1e6 == pytest.approx(57.2, rel=PARAMS_TOL)


def test_encoder_parameter_count_by_hand(workload_spec):
    """PyTorch LSTM convention: W_ih (4H x in), W_hh (4H x H), b_ih and b_hh (4H each), per direction."""
    h = 640
    blstm1 = 2 * (4 * h * 340 + 4 * h * h + 2 * 4 * h)  # 5_027_840
    blstm_k = 2 * (4 * h * 1280 + 4 * h * h + 2 * 4 * h)  # 9_840_640, layers 2..6 take 2 x 640 inputs
    linear = 1280 * 256 + 256
    encoder = build_model(workload_spec).networks["encoder"]
    assert [l.name for l in encoder.layers] == ["blstm1", "blstm2", "blstm3", "blstm4", "blstm5", "blstm6", "linear"]
    assert encoder.layer("blstm1").params == blstm1 == 5_027_840
    assert encoder.layer("blstm4").params == blstm_k == 9_840_640
    assert encoder.params == blstm1 + 5 * blstm_k + linear == 54_558_976


def test_lm_ext_parameter_count_by_hand(workload_spec):
    emb = 46 * 16
    lstm1 = 4 * 2048 * 16 + 4 * 2048 * 2048 + 2 * 4 * 2048
    lstm2 = 4 * 2048 * 2048 + 4 * 2048 * 2048 + 2 * 4 * 2048
    bottleneck = 2048 * 256 + 256
    output = 256 * 46 + 46
    assert build_model(workload_spec).networks["lm_ext"].params == emb + lstm1 + lstm2 + bottleneck + output == 51_032_590


# ---------------------------------------------------------------- Table 1


@pytest.mark.parametrize("row", TABLE1, ids=_row_id)
def test_table1_size_and_compression(workload_path, row):
    with_lms = row["lm_ext"] is not None
    precision = f"rnnt={RNNT_PRESET[row['rnnt']]}"
    if with_lms:
        precision += f",lm_ext={LM_PRESET[row['lm_ext']]},lm_src={LM_PRESET[row['lm_src']]}"
    model = build_model(load_with(workload_path, precision), with_lms=with_lms)
    assert ("lm_ext" in model.networks) == with_lms and ("lm_src" in model.networks) == with_lms
    report = model_size(model)
    assert report["total_MB"] == pytest.approx(row["size_MB"], rel=SIZE_TOL)
    assert report["compression"] == pytest.approx(row["compression"], rel=SIZE_TOL)


def test_int4_rnnt_size_by_hand(workload_path):
    """Fig. 1 scheme, no LMs: weights at their bits, every bias 4 bytes."""
    model = build_model(load_with(workload_path, "int4"), with_lms=False)
    encoder = (
        5_017_600 * 1 + 10_240 * 4  # blstm1: 8-bit weights, FP32 biases
        + 5 * (9_830_400 // 2 + 10_240 * 4)  # blstm2..6: 4-bit weights
        + 327_680 * 1 + 256 * 4  # linear 1280 -> 256, 8-bit
    )
    prediction = 736 * 1 + (2_408_448 // 2 + 6_144 * 4) + (196_608 * 1 + 256 * 4)  # embedding 8b, LSTM 4b, linear 8b
    joint = 11_776 * 1 + 46 * 4
    assert model.networks["encoder"].stored_bytes == encoder == 30_168_064
    assert model.networks["prediction"].stored_bytes == prediction
    assert model.networks["joint"].stored_bytes == joint
    assert model.stored_bytes == encoder + prediction + joint


def test_w2a4_halves_the_4bit_rnnt_weights(workload_path):
    int4 = build_model(load_with(workload_path, "int4"), with_lms=False)
    w2a4 = build_model(load_with(workload_path, "w2a4"), with_lms=False)
    four_bit_weights = 5 * 9_830_400 + 2_408_448  # encoder blstm2..6 and the prediction LSTM
    assert int4.stored_bytes - w2a4.stored_bytes == four_bit_weights * (4 - 2) / 8


def test_paper_share_of_4bit_parameters(workload_spec):
    """Sec. 3.2: the full 4-bit model has '94.9% of parameters at 4-bits' (biases count as parameters)."""
    model = build_model(workload_spec, with_lms=True)
    four = sum(l.weight_params for n in model.networks.values() for l in n.layers if l.precision.weight_bits == 4)
    assert four / model.params == pytest.approx(0.949, abs=0.001)


def test_fp32_compression_is_one(workload_path):
    model = build_model(load_with(workload_path, "fp32"), with_lms=True)
    assert model.stored_bytes == model.fp32_bytes == model.params * 4
    assert model_size(model)["compression"] == 1.0


# ---------------------------------------------------------------- precision presets


def _bits(model, network: str) -> dict[str, str]:
    return {l.name: l.precision.label for l in model.networks[network].layers if l.weight_params}


def test_int4_is_the_fig1_scheme(workload_path):
    model = build_model(load_with(workload_path, "int4"), with_lms=True)
    assert _bits(model, "encoder") == {
        "blstm1": "8/8",  # the first encoder layer stays at 8 bits
        **{f"blstm{k}": "4/4" for k in range(2, 7)},
        "linear": "8/8",
    }
    assert _bits(model, "prediction") == {"embedding": "8/8", "lstm": "4/4", "linear": "8/8"}
    assert _bits(model, "joint") == {"linear": "8/8"}
    assert set(_bits(model, "lm_ext").values()) == {"4/4"}  # LMs fully 4-bit, embedding and linears included
    assert set(_bits(model, "lm_src").values()) == {"4/4"}
    assert len(_bits(model, "lm_ext")) == 5  # embedding, lstm1, lstm2, bottleneck, output


def test_int4_quantizers_are_the_fig1_ones(workload_path):
    """Sec. 3.2: first layer MAX/MAX (hidden FIX); other LSTMs SAWB weights, FIX inputs and hidden states;
    linears MAX/MAX; LMs SAWB weights, PACT inputs."""
    model = build_model(load_with(workload_path, "int4"), with_lms=True)
    enc, pred = model.networks["encoder"], model.networks["prediction"]
    q = lambda layer: (layer.precision.weight_quantizer, layer.precision.act_quantizer)  # noqa: E731
    assert q(enc.layer("blstm1")) == ("MAX", "MAX") and enc.layer("blstm1").precision.hidden_quantizer == "FIX"
    for name in ("blstm2", "blstm6"):
        assert q(enc.layer(name)) == ("SAWB", "FIX") and enc.layer(name).precision.hidden_quantizer == "FIX"
    assert q(pred.layer("lstm")) == ("SAWB", "FIX") and pred.layer("lstm").precision.hidden_quantizer == "FIX"
    assert q(enc.layer("linear")) == q(pred.layer("linear")) == q(model.networks["joint"].layer("linear")) == ("MAX", "MAX")
    for lm in ("lm_ext", "lm_src"):
        for layer in model.networks[lm].layers:
            assert q(layer) == ("SAWB", "PACT"), (lm, layer.name)


def test_w2a4_makes_4bit_rnnt_weights_2bit(workload_path):
    int4 = build_model(load_with(workload_path, "int4"), with_lms=True)
    w2a4 = build_model(load_with(workload_path, "w2a4"), with_lms=True)
    assert _bits(w2a4, "encoder") == {"blstm1": "8/8", **{f"blstm{k}": "2/4" for k in range(2, 7)}, "linear": "8/8"}
    assert _bits(w2a4, "prediction") == {"embedding": "8/8", "lstm": "2/4", "linear": "8/8"}
    assert _bits(w2a4, "joint") == {"linear": "8/8"}
    for lm in ("lm_ext", "lm_src"):  # the LMs are as in int4
        assert [l.precision for l in w2a4.networks[lm].layers] == [l.precision for l in int4.networks[lm].layers]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_int8_fp16_fp32_are_uniform_and_biases_always_fp32(workload_path, preset):
    model = build_model(load_with(workload_path, preset), with_lms=True)
    uniform = {"fp32": "32/32", "fp16": "16/16", "int8": "8/8"}
    for net in model.networks.values():
        for layer in net.layers:
            if preset in uniform:
                assert layer.precision.label == uniform[preset], (net.name, layer.name)
            expected = layer.weight_params * layer.precision.weight_bits / 8 + layer.bias_params * 4
            expected += layer.precision.codebook_stored_bits() / 8  # a LUT/GQ layer's codebook (0 for uniform weights)
            assert layer.stored_bytes == expected, (preset, net.name, layer.name)
    assert BIAS_BITS == 32


def test_per_network_presets(workload_path):
    model = build_model(load_with(workload_path, "rnnt=int4,lm_ext=int8"), with_lms=True)
    assert model.presets == {
        "encoder": "int4", "prediction": "int4", "joint": "int4",
        "lm_ext": "int8",
        "lm_src": "int4",  # not named: the workload's default (int4)
    }
    assert set(_bits(model, "lm_ext").values()) == {"8/8"}
    assert set(_bits(model, "lm_src").values()) == {"4/4"}
    assert _bits(model, "encoder")["blstm2"] == "4/4"


def test_per_network_preset_beats_group_and_default(workload_path):
    spec = load_with(workload_path, "rnnt=int4,encoder=fp16,lms=int8", extra=("workload.precision.default=fp32",))
    model = build_model(spec, with_lms=True)
    assert model.presets == {"encoder": "fp16", "prediction": "int4", "joint": "int4", "lm_ext": "int8", "lm_src": "int8"}


def test_single_preset_flag_resets_network_presets(tmp_path, workload_path):
    data = yaml.safe_load(workload_path.read_text())
    data["precision"]["networks"] = {"lms": "fp32"}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data))
    assert build_model(load_with(path)).presets["lm_ext"] == "fp32"
    assert set(build_model(load_with(path, "int8")).presets.values()) == {"int8"}


def test_layer_override_changes_only_that_layer(tmp_path, workload_path):
    data = yaml.safe_load(workload_path.read_text())
    data["precision"]["layers"] = [{"network": "encoder", "layer": "blstm2", "weight_bits": 8}]
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data))
    model = build_model(accelsim.load_workload(path))
    blstm2 = model.networks["encoder"].layer("blstm2").precision
    assert (blstm2.weight_bits, blstm2.act_bits, blstm2.weight_quantizer) == (8, 4, "SAWB")
    assert model.networks["encoder"].layer("blstm3").precision.label == "4/4"


def test_lms_follow_lm_fusion_unless_told(workload_path):
    no_fusion = load_with(workload_path, extra=("workload.decoding.lm_fusion=false",))
    assert set(build_model(no_fusion).networks) == {"encoder", "prediction", "joint"}
    assert set(build_model(no_fusion, with_lms=True).networks) == {"encoder", "prediction", "joint", "lm_ext", "lm_src"}


# ---------------------------------------------------------------- accelsim size --json


def _check_report(report: dict) -> None:
    for key in ("total_MB", "fp32_MB", "compression", "params_M", "networks"):
        assert key in report
    assert report["total_MB"] == pytest.approx(sum(n["size_MB"] for n in report["networks"].values()), rel=1e-9)
    assert report["compression"] == pytest.approx(report["fp32_MB"] / report["total_MB"], rel=1e-9)
    for entry in report["networks"].values():
        assert {"precision", "params_M", "size_MB", "fp32_MB", "compression"} <= set(entry)
        assert entry["fp32_MB"] == pytest.approx(4 * entry["params_M"], rel=1e-9)  # MB = 10^6 bytes
        assert entry["compression"] == pytest.approx(entry["fp32_MB"] / entry["size_MB"], rel=1e-9)


def test_cli_size_json(run_cli, workload_path):
    proc = run_cli("size", workload_path, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # nothing but one JSON object on stdout
    _check_report(report)
    assert set(report["networks"]) == {"encoder", "prediction", "joint", "lm_ext", "lm_src"}
    assert report["networks"]["encoder"]["precision"] == "int4"
    assert report["networks"]["encoder"]["params_M"] == pytest.approx(54.558976, rel=1e-9)
    assert report["networks"]["encoder"]["size_MB"] == pytest.approx(30.168064, rel=1e-9)
    # the shipped workload is Table 1's full 4-bit row
    assert report["total_MB"] == pytest.approx(57.2, rel=SIZE_TOL)
    assert report["compression"] == pytest.approx(7.6, rel=SIZE_TOL)


def test_cli_size_json_no_lm(run_cli):
    proc = run_cli("size", "--json", "--no-lm")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    _check_report(report)
    assert set(report["networks"]) == {"encoder", "prediction", "joint"}
    assert report["total_MB"] == pytest.approx(30.9, rel=SIZE_TOL)
    assert report["compression"] == pytest.approx(7.2, rel=SIZE_TOL)


def test_cli_size_json_per_network_precision(run_cli):
    proc = run_cli("size", "--json", "--precision", "rnnt=int4,lm_ext=int8,lm_src=fp32")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    _check_report(report)
    assert {n: e["precision"] for n, e in report["networks"].items()} == {
        "encoder": "int4", "prediction": "int4", "joint": "int4", "lm_ext": "int8", "lm_src": "fp32"}
    assert report["networks"]["lm_src"]["compression"] == 1.0
    assert report["total_MB"] == pytest.approx(90.9, rel=SIZE_TOL)
    assert report["compression"] == pytest.approx(4.8, rel=SIZE_TOL)
