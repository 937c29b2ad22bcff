"""Command line: parses arguments, calls the public API, prints. No modelling here."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Sequence

from accelsim.errors import AccelsimError
from accelsim.spec.serving import DISPATCHERS

DEFAULT_WORKLOAD = "workloads/rnnt_lm_fusion.yaml"
DEFAULT_HW = "hwconfigs/rapid_7nm.yaml"


def _version() -> str:
    from accelsim import __version__

    return __version__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """Bad flags are one line, like every other error of accelsim: no usage block before it."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _dumps(obj: object, what: str) -> str:
    """Strict JSON (RFC 8259: no Infinity or NaN); a non-finite number is a clear error, never in the output."""
    try:
        return json.dumps(obj, indent=2, allow_nan=False)
    except ValueError:
        raise AccelsimError(f"{what}: a figure is not a finite number; no JSON written") from None


def _add_inputs(p: argparse.ArgumentParser, hardware: bool = True) -> None:
    p.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD,
                   help=f"workload YAML, or a shipped workload's name such as rnnt_lm_fusion (default: {DEFAULT_WORKLOAD})")
    if hardware:
        p.add_argument("hardware", nargs="?", default=DEFAULT_HW,
                       help=f"hardware YAML, or a shipped machine's name such as rapid_7nm (default: {DEFAULT_HW})")


def _add_allow_failures(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-failures", action="store_true",
                   help="exit 0 even when some points are invalid or failed (default: exit 1, and say how many)")


def _failures(table, allow: bool) -> int:
    """Exit code for a sweep's points: 1 when some did not finish (invalid, failed), unless allowed."""
    bad = int((table["status"] != "ok").sum())
    if not bad:
        return 0
    verdict = "allowed by --allow-failures" if allow else "exit 1; --allow-failures accepts this"
    print(f"accelsim: {bad} of {len(table)} points did not finish (invalid or failed): {verdict}", file=sys.stderr)
    return 0 if allow else 1


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object and nothing else on stdout")


WORKERS_HELP = "processes (default: the CPU count, at most one per point to run); 1 runs in this process"


def _add_workers(p: argparse.ArgumentParser, what: str = "") -> None:
    """The one --workers flag of every command: the same default everywhere (accelsim.sweep.runner.default_workers)."""
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help=(f"{what}: " if what else "") + WORKERS_HELP)


def _add_model_flags(p: argparse.ArgumentParser, with_beam: bool = True, hardware: bool = True) -> None:
    from accelsim.spec.precision import PRESETS

    p.add_argument("--precision", metavar="P",
                   help=f"precision preset for every network ({', '.join(PRESETS)}; accelsim list describes them) or "
                        "per network, e.g. rnnt=int4,lm_ext=int8,lm_src=fp32 (groups: rnnt, lms)")
    if with_beam:
        p.add_argument("--beam", type=_positive_int, metavar="N", help="beam width (default: the workload's)")
    p.add_argument("--lm", dest="lm", action=argparse.BooleanOptionalAction, default=None,
                   help="fuse the external LMs (LM_EXT, LM_SRC) or not (default: the workload's)")
    if hardware:
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                       help="override any field, e.g. --set hw.link.bandwidth='64 Gbps' --set workload.decoding.beam=4 "
                            "(repeatable; values are read as YAML)")
    else:
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="workload.PATH=VALUE",
                       help="override a workload field, e.g. --set workload.model.vocab=64 (repeatable; values are read "
                            "as YAML; this command takes no hardware file, so hw.* is refused)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="accelsim",
        description="Discrete-event performance simulator for quantized speech recognition (RNN-T with LM fusion) "
                    "on an AI accelerator: a coprocessor, a host CPU and the link between them.",
        epilog="Start with: accelsim reproduce (the paper's study), or accelsim run " + DEFAULT_WORKLOAD + " " + DEFAULT_HW,
    )
    parser.add_argument("--version", action="version", version=f"accelsim {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="simulate one utterance and report RTF with breakdowns",
                         description="Simulate one utterance of WORKLOAD on HW and print the real-time factor (RTF = "
                                     "processing time / audio duration) with its breakdown by component and by resource "
                                     "(critical-path attribution: each sums to the RTF) and per-resource occupancy.")
    _add_inputs(run)
    _add_model_flags(run)
    _add_json(run)
    _add_workers(run, "for a workload's test set (one utterance always runs in one)")
    run.add_argument("--trace", metavar="FILE.json",
                     help="also write a Chrome trace-event timeline (open in Perfetto or chrome://tracing)")
    run.add_argument("--by", choices=["layer"],
                     help="also report per layer: ops, MACs, weight bytes fetched, critical-path time and RTF share, what "
                          "bound it (coprocessor = compute, link, host), bits and MAC format (with --json: a 'layers' list)")
    run.add_argument("--show-config", action="store_true",
                     help="print the fully resolved workload and hardware (flags and --set applied, defaults filled in) "
                          "as YAML and exit without simulating")
    run.set_defaults(func=cmd_run)

    _serving_parser(sub, "serve", cmd_serve, "many concurrent streams on one machine: latency percentiles, "
                          "throughput, batches",
                          "Serve the traffic of WORKLOAD's serving: section (or of the flags) on one HW: many streams' ops "
                          "share the cores, host and link in one SimPy run, batched across streams. Prints latency (end of "
                          "audio to result) p50/p90/p99, queueing delay, throughput (audio seconds per second), "
                          "utilisation and batch sizes.")
    cap = _serving_parser(sub, "capacity", cmd_capacity, "the largest load meeting a latency objective, by bisection",
                          "Find the most always-active streams (or, with --rate, the highest Poisson rate) that WORKLOAD's "
                          "serving on HW (or on a fleet of --chips) sustains within --slo, by doubling or halving from "
                          "--streams (or --rate), then bisection; with --find chips, the fewest chips that sustain that "
                          "load. Every load is served at the traffic's seed and --replications more, and meets the SLO "
                          "only if it does at every one.")
    cap.add_argument("--slo", required=True, metavar="OBJECTIVES",
                     help="e.g. \"p99_latency<=300 ms\" or \"p99_latency<=300 ms, rtf<=1\" (metrics: p50_latency, "
                          "p90_latency, p99_latency, mean_latency, max_latency, p99_queueing, rtf = p99 of latency/audio)")
    cap.add_argument("--replications", type=_non_negative_int, default=2, metavar="R",
                     help="seeds beyond the traffic's own that every load is also served at; a load meets the SLO only if "
                          "it does at every seed (default 2)")
    cap.add_argument("--find", choices=["chips"],
                     help="search the fleet size instead: the fewest chips meeting --slo at the load of --rate (or "
                          "--streams)")
    cap.add_argument("--plot", metavar="FILE.png", help="write latency against load with the SLO line (png, svg or pdf)")
    _add_workers(cap, "each load's seeds run in parallel")
    cap.add_argument("--dask", metavar="local|ADDRESS", help="run the search's points on Dask (as for sweep)")

    exp = sub.add_parser("explain", help="why the RTF is what it is: critical path, occupancy, sensitivities",
                         description="Summarise the critical path (which components and resources it runs through), "
                                     "per-resource occupancy, and the RTF change when each of link bandwidth, link "
                                     "latency, coprocessor MAC rate, scratchpad size, host speed and launch/dispatch "
                                     "overheads is made 2x better.")
    _add_inputs(exp)
    _add_model_flags(exp)
    exp.add_argument("--plot", metavar="FILE.png", help="also draw the sensitivity bar chart (.png, .svg or .pdf)")
    _add_workers(exp, "for the six variants")
    _add_json(exp)
    exp.set_defaults(func=cmd_explain)

    size = sub.add_parser("size", help="model size (MB = 10^6 bytes) and compression vs FP32",
                          description="Print the stored size of each network at its precision (weights at their bits, "
                                      "biases in FP32) in MB (10^6 bytes) and the compression ratio against FP32.")
    _add_inputs(size, hardware=False)
    _add_model_flags(size, with_beam=False, hardware=False)
    _add_json(size)
    size.add_argument("--by", choices=["layer"], help="also one row per layer: weight bits and quantizer (LUT/GQ: k-bit "
                      "indices + a codebook), parameters kept in FP32 and stored size (with --json: a 'layers' list)")
    size.set_defaults(func=cmd_size)

    from accelsim.calibrate.reproduce import REPRODUCE_FILES

    rep = sub.add_parser("reproduce", help="run every setting of the paper's hardware study and compare with its figures",
                         description="Simulate the paper's study (FP16/INT8/INT4 x with/without LMs x 32/64 Gbps x beam "
                                     f"1..16, and Table 1's mixed-precision rows), write {', '.join(REPRODUCE_FILES)} "
                                     "(energy.png when the machine has an energy model), and print every published "
                                     "figure next to accelsim's, then each figure's error with one modelling mechanism "
                                     "switched off at a time (the ablation table).")
    rep.add_argument("--out", default="reports/paper", help="output folder (default: reports/paper)")
    rep.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"workload YAML (default: {DEFAULT_WORKLOAD})")
    rep.add_argument("--hardware", default=DEFAULT_HW, help=f"hardware YAML (default: {DEFAULT_HW})")
    rep.add_argument("--targets", default=None, help="targets file (default: the paper's, shipped with accelsim)")
    _add_workers(rep)
    rep.add_argument("--json", action="store_true", help="print only the comparison, as a JSON list, on stdout")
    rep.add_argument("--resume", action="store_true",
                     help="reuse the settings already simulated into OUT/points (each finished setting is kept there)")
    rep.add_argument("--dask", metavar="local|ADDRESS", help="run the settings on Dask (as for sweep)")
    rep.set_defaults(func=cmd_reproduce)

    seed = sub.add_parser("seed", help="the other seed papers' figures (002: 4-bit Conformer, 003: GQ sub-8-bit) and report",
                          description="Compute seed 002's or 003's published figures on the shipped workloads (size "
                                      "ratios, memory and latency savings; never fitted), compare them, and write "
                                      "comparison.csv, sizes.csv, performance.csv, sizes.png and performance.png (size vs "
                                      "precision; RTF vs precision and streaming latency vs chunk size).")
    seed.add_argument("seed", choices=["002", "003"], help="which seed paper")
    seed.add_argument("--out", default=None, help="output folder (default: reports/seedNNN)")
    seed.add_argument("--targets", default=None, help="targets file (default: the one shipped with accelsim)")
    seed.add_argument("--chunks", type=_positive_int, nargs="+", metavar="FRAMES",
                      help="chunk sizes to stream, in encoder frames (default: 4 8 16 32)")
    _add_json(seed)
    seed.set_defaults(func=cmd_seed)

    swp = sub.add_parser("sweep", help="run a report recipe: a grid of points, in parallel, cached and resumable",
                         description="Expand RECIPE (reports/*.yaml) into points, run them in parallel, write results.csv "
                                     "(and results.parquet with pyarrow) with one row per point, and draw the recipe's plots. "
                                     "Finished points are cached by a hash of their resolved config; --resume reuses them.")
    swp.add_argument("recipe", help="report recipe YAML, e.g. reports/link_whatif.yaml")
    swp.add_argument("--out", help="output folder (default: out/<recipe name> beside the recipe)")
    _add_workers(swp)
    swp.add_argument("--dask", metavar="local|ADDRESS",
                     help="run on Dask: 'local' starts a LocalCluster of --workers processes, else a scheduler address "
                          "(needs pip install 'accelsim[dask]')")
    swp.add_argument("--resume", action="store_true", help="reuse points already finished in the output folder")
    _add_allow_failures(swp)
    swp.set_defaults(func=cmd_sweep)

    reg = sub.add_parser("regress", help="rerun a recipe and compare it with a committed baseline (CI)",
                         description="Rerun RECIPE (finished points reused), compare every metric with the baseline CSV, "
                                     "print what moved, and exit 1 when a metric got worse by more than the tolerance or a "
                                     "baseline point no longer runs (0 otherwise, 2 on bad input). --update rewrites the baseline.")
    reg.add_argument("recipe", help="report recipe YAML, e.g. reports/paper.yaml")
    reg.add_argument("--baseline", required=True, help="baseline CSV, e.g. reports/baselines/paper.csv")
    reg.add_argument("--tolerance", default="2%", help="relative change allowed before 'worse' (default 2%%)")
    reg.add_argument("--update", action="store_true", help="write the current results as the new baseline")
    reg.add_argument("--summary", metavar="FILE.md", help="also write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    reg.add_argument("--out", help="sweep output folder (default: out/<recipe name> beside the recipe)")
    _add_workers(reg)
    _add_allow_failures(reg)
    reg.set_defaults(func=cmd_regress)

    cal = sub.add_parser("calibrate", help="fit the unsourced hardware parameters to reference figures",
                         description="Fit a declared set of at most 6 hardware parameters (each within a plausible range) "
                                     "so that the workload reproduces the figures whose role is 'calibrate' in TARGETS; "
                                     "write the new hardware YAML with each fitted value marked 'calibrated:'.")
    cal.add_argument("targets", help="targets file, shaped like accelsim/reference/paper_targets.yaml")
    cal.add_argument("hardware", help="hardware YAML to start from")
    cal.add_argument("--out", required=True, help="where to write the calibrated hardware YAML")
    cal.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"workload YAML (default: {DEFAULT_WORKLOAD})")
    cal.add_argument("--param", action="append", default=[], metavar="PATH=LOW..HIGH [UNIT]",
                     help="a parameter to fit instead of the default set, e.g. 'link.latency=0.5..10 us' (repeatable)")
    cal.add_argument("--max-evals", type=_positive_int, default=400,
                     help="most objective evaluations (default 400; the local search stops when it converges, about 180 "
                          "for the paper's figures)")
    cal.add_argument("--samples", type=_non_negative_int, default=16, help="Sobol samples before the local search (default 16)")
    cal.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the Sobol sample (default 0)")
    cal.add_argument("--workers", type=_positive_int, default=1,
                     help="processes per evaluation (default 1: an evaluation is about ten short simulations, "
                          "which a new process pool per evaluation would not speed up on a few cores)")
    cal.set_defaults(func=cmd_calibrate)
    _add_mlperf_command(sub)
    _add_measure_commands(sub)
    _add_reference_commands(sub)
    _add_import_command(sub)
    return parser


MLPERF_WORKLOAD = "workloads/mlperf_rnnt.yaml"
MLPERF_HW = "hwconfigs/gpu/a100_sxm_80gb.yaml"


def _add_mlperf_command(sub) -> None:
    p = sub.add_parser("mlperf", help="the MLPerf Inference scenarios (offline, server, singlestream) on one machine "
                                      "or every shipped one",
                       description="Offline: the highest samples/s with continuous batching up to --max-batch slots. "
                                   "Server: the highest Poisson rate whose p99 latency is at most 1 s. SingleStream: "
                                   "p90 and mean latency of one sample at a time. --all: every shipped system in all "
                                   "three, one table, CSV and plot.")
    p.add_argument("workload", nargs="?", default=MLPERF_WORKLOAD, help=f"workload YAML (default: {MLPERF_WORKLOAD})")
    p.add_argument("hardware", nargs="?", default=MLPERF_HW, help=f"hardware YAML (default: {MLPERF_HW})")
    p.add_argument("--scenario", help="offline, server or singlestream")
    p.add_argument("--max-batch", default="2048", metavar="N", help="largest batch (slots) Offline and Server may use "
                                                                     "(default 2048)")
    p.add_argument("--all", action="store_true", help="every shipped system (hwconfigs/gpu, hwconfigs/cpu) in all "
                                                      "three scenarios; the hardware argument is ignored")
    p.add_argument("--out", default="reports/mlperf", help="--all: folder for mlperf.csv and mlperf.png "
                                                             "(default reports/mlperf)")
    p.add_argument("--calibrate", metavar="RUNTIME.yaml", help="fit the GPU runtime's calibrated values on the one "
                                                                "calibration system (accelsim/reference/mlperf_rnnt.yaml) "
                                                                "and write them into this copy of hwconfigs/gpu/runtime.yaml")
    p.add_argument("--max-evals", type=_positive_int, default=150, help="--calibrate: objective evaluations (default 150)")
    p.add_argument("--samples", type=_non_negative_int, default=16,
                   help="--calibrate: Sobol samples before the local search (default 16, a power of two as Sobol "
                        "sampling wants)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override any field, e.g. --set hw.gpu.runtime.cuda_graphs=false (repeatable)")
    _add_json(p)
    p.set_defaults(func=cmd_mlperf)


def cmd_mlperf(args: argparse.Namespace) -> int:
    import accelsim.api as api
    from accelsim.mlperf.table import format_result

    try:
        max_batch = int(args.max_batch)
    except ValueError:
        raise AccelsimError(f"--max-batch {args.max_batch!r}: expected a whole number of at least 1") from None
    if args.calibrate:
        return _mlperf_calibrate(args)
    if args.all:
        return _mlperf_all(args, max_batch)
    if args.scenario is None:
        raise AccelsimError("accelsim mlperf: give --scenario offline|server|singlestream, or --all")
    result = api.mlperf(args.workload, args.hardware, args.scenario, max_batch=max_batch, overrides=args.overrides)
    print(_dumps(result.to_json(), "mlperf") if args.json else format_result(result))
    return 0


def _mlperf_calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from accelsim.calibrate.mlperf import calibrate_mlperf, format_calibration, load_reference, write_runtime

    from accelsim.files import find_input

    reference = load_reference()
    runtime = find_input(MLPERF_HW, "hwconfigs").parent / "runtime.yaml"
    calibration = calibrate_mlperf(reference, max_evals=args.max_evals, samples=args.samples,
                                   progress=_progress("calibrate", args.max_evals))
    write_runtime(calibration, runtime, Path(args.calibrate))
    print(format_calibration(calibration))
    print(f"wrote {args.calibrate}")
    return 0


def _mlperf_all(args: argparse.Namespace, max_batch: int) -> int:
    import accelsim.api as api
    from pathlib import Path

    from accelsim.mlperf.table import text_table, write_outputs

    rows, problems = api.mlperf_all(args.workload, max_batch=max_batch, overrides=args.overrides)
    written = write_outputs(rows, Path(args.out))
    if args.json:
        print(_dumps({"systems": rows, "problems": problems, "files": [str(p) for p in written]}, "mlperf"))
        return 0
    print(text_table(rows))
    for problem in problems:
        print(f"  {problem}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _add_import_command(sub) -> None:
    imp = sub.add_parser("import", help="turn a speech model exported to ONNX into a workload YAML",
                         description="Read MODEL.onnx (a whole transducer), or three files (encoder, prediction network, "
                                     "joint network, in that order), map its nodes to accelsim layers (shapes and "
                                     "parameters from the initializers, bits from QuantizeLinear/DequantizeLinear or "
                                     "MatMulInteger) and write a workload. The parts of one graph are told apart by "
                                     "structure (features and labels as inputs) or names, or by --encoder, --predictor "
                                     "and --joint. Needs pip install 'accelsim[onnx]'.")
    imp.add_argument("models", nargs="+", metavar="MODEL.onnx", help="one ONNX file, or three (encoder, prediction, joint)")
    imp.add_argument("--out", required=True, metavar="FILE.yaml", help="where to write the workload, e.g. workloads/mine.yaml")
    for flag, part in (("--encoder", "encoder"), ("--predictor", "prediction network"), ("--joint", "joint network")):
        imp.add_argument(flag, metavar="PREFIX", help=f"node names of the {part} begin with PREFIX (one graph only)")
    imp.add_argument("--as-elementwise", action="append", default=[], metavar="OP",
                     help="count nodes of op type OP, which accelsim has no layer for, as element-wise work (one "
                          "operation per element; a warning names each node) instead of refusing (repeatable)")
    imp.add_argument("--name", help="the workload's name (default: the file's stem; with three files, their folder's name)")
    imp.add_argument("--frames", type=_positive_int, default=150, metavar="N",
                     help="encoder frames of the utterance (default 150; an assumption the graph cannot give)")
    imp.add_argument("--frame-shift", default="20 ms", metavar="TIME",
                     help="audio per encoder frame (default '20 ms'; an assumption the graph cannot give)")
    imp.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from accelsim.files import atomic_write_text
    from accelsim.importer import import_onnx
    from accelsim.spec.schema import editor_schema_line

    prefixes = {"encoder": args.encoder, "prediction": args.predictor, "joint": args.joint}
    imported = import_onnx(args.models, prefixes if any(prefixes.values()) else None, frozenset(args.as_elementwise))
    for warning in imported.warnings:
        print(f"accelsim import: warning: {warning}", file=sys.stderr)
    schema = Path("reports") / "reference" / "workload.schema.json"  # the repository's, when run from a clone
    first = editor_schema_line(schema, args.out) if schema.is_file() else None
    default = Path(args.models[0]).stem if len(args.models) == 1 else Path(args.models[0]).resolve().parent.name
    text = imported.yaml_text(args.name or default, args.frames, args.frame_shift, first)
    atomic_write_text(args.out, text, parents=True)
    print(imported.summary())
    print(f"wrote {args.out}")
    return 0


def _progress(desc: str, total: int):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="sim", file=sys.stderr, disable=None, leave=False)

    def update(done: int, _total: int | float) -> None:
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def _progress_points(desc: str):
    """A progress bar for the runner's (done, failed, total), created when the first report arrives."""
    from tqdm import tqdm

    bar = None

    def update(done: int, failed: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="point", file=sys.stderr, disable=None, leave=False)
        bar.n = done
        bar.set_postfix(failed=failed, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def cmd_reproduce(args: argparse.Namespace) -> int:
    from accelsim.calibrate.reproduce import reproduce
    from accelsim.report.paper import format_ablation, format_report, paper_settings
    from accelsim.spec.targets import load_targets
    from accelsim.sweep.runner import default_workers

    total = len(paper_settings(load_targets(args.targets)))
    workers = args.workers or default_workers(total)
    report = reproduce(args.out, args.workload, args.hardware, args.targets, workers, _progress_points("reproduce"),
                       dask=args.dask, resume=args.resume)
    if args.json:
        print(_dumps([{k: c.to_dict()[k] for k in ("id", "target", "simulated", "error_pct", "role")}
                      for c in report.comparisons], "reproduce"))
    else:
        print(format_report(report))
        if report.ablation is not None:
            print(format_ablation(report.ablation))
        print(f"wrote {', '.join(str(f) for f in report.files)}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from accelsim.calibrate.seeds import format_seed_report, seed_report

    report = seed_report(args.seed, args.out or f"reports/seed{args.seed}", args.targets,
                         tuple(args.chunks) if args.chunks else None)
    if args.json:
        print(_dumps([c.to_dict() for c in report.comparisons], "seed"))
    else:
        print(format_seed_report(report))
        print(f"wrote {', '.join(str(f) for f in report.files)}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from accelsim.sweep import load_recipe, run_sweep
    from accelsim.sweep.recipe import expand
    from accelsim.sweep.run import default_out, sweep_files

    recipe = load_recipe(args.recipe)
    out = args.out or default_out(recipe)
    bar = tqdm(total=len(expand(recipe.spec)), desc=recipe.spec.name, unit="point", file=sys.stderr, disable=None)

    def progress(done: int, failed: int, total: int) -> None:
        bar.n = done
        bar.set_postfix(failed=failed, refresh=False)
        bar.refresh()

    try:
        table = run_sweep(recipe, out, workers=args.workers, dask=args.dask, resume=args.resume, progress=progress)
    finally:
        bar.close()
    counts = table["status"].value_counts().to_dict()
    print(f"{recipe.spec.name}: {len(table)} points, " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for _, row in table[table["status"] != "ok"].head(5).iterrows():
        print(f"  point {row['point']}: {row['status']}: {row['error']}")
    print(f"wrote {', '.join(str(f) for f in sweep_files(recipe, out))}")
    return _failures(table, args.allow_failures)


def cmd_regress(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from accelsim.errors import AccelsimError
    from accelsim.files import atomic_write_text
    from accelsim.report.regress import baseline_table, compare, format_markdown, format_text
    from accelsim.sweep import load_recipe, run_sweep

    text = args.tolerance.strip().removesuffix("%")
    try:
        tolerance = float(text)
    except ValueError:
        raise AccelsimError(f"--tolerance {args.tolerance!r}: expected a percentage such as 2%") from None
    if not math.isfinite(tolerance) or tolerance < 0:
        raise AccelsimError(f"--tolerance {args.tolerance!r}: expected a finite, non-negative percentage such as 2%")
    recipe = load_recipe(args.recipe)
    baseline_path = Path(args.baseline)
    if not args.update and not baseline_path.is_file():
        raise AccelsimError(f"{baseline_path}: no such baseline (create it with --update)")
    current = run_sweep(recipe, args.out, workers=args.workers, resume=True)
    axes = recipe.spec.axis_names
    if args.update:
        atomic_write_text(baseline_path, baseline_table(current, axes).to_csv(index=False, float_format="%.10g"), parents=False)  # --baseline: its folder must exist
        print(f"wrote {baseline_path} ({(current['status'] == 'ok').sum()} points)")
        return 0
    try:
        baseline = pd.read_csv(baseline_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AccelsimError(f"{baseline_path}: not a baseline CSV: {exc}") from None
    absent = [a for a in axes if a not in baseline.columns]
    if absent:
        raise AccelsimError(f"{baseline_path}: has no column for the recipe's axes {absent}; was it made from this recipe?")
    result = compare(baseline, current, axes, tolerance)
    print(format_text(result))
    if args.summary:
        atomic_write_text(args.summary, format_markdown(result, args.recipe, str(baseline_path)), parents=False)  # --summary: its folder must exist
    failures = _failures(current, args.allow_failures)
    return 1 if result.failed else failures


def cmd_calibrate(args: argparse.Namespace) -> int:
    import datetime

    from accelsim.calibrate.fit import DEFAULT_PARAMETERS, calibrate, parse_parameter, write_calibrated
    from accelsim.spec.targets import load_targets

    params = tuple(parse_parameter(p) for p in args.param) or DEFAULT_PARAMETERS
    targets = load_targets(args.targets)
    progress = _progress("calibrate", args.max_evals)
    fit = calibrate(targets, args.workload, args.hardware, params, max_evals=args.max_evals, samples=args.samples,
                    seed=args.seed, progress=lambda n, loss: progress(n, loss), workers=args.workers)
    procedure = (f"accelsim calibrate, least squares on log error over the {len(fit.comparisons)} calibrate figures of "
                 f"{args.targets}, centre + Sobol({args.samples}, seed {args.seed}) + Nelder-Mead to convergence, "
                 f"{fit.evaluations} evaluations")
    write_calibrated(args.hardware, args.out, fit, params, procedure)
    print(f"fitted {len(params)} parameters in {fit.evaluations} evaluations (loss {fit.loss:.4g}):")
    for p in params:
        print(f"  {p.path:<32} = {p.to_yaml(fit.values[p.path]):<14} range {p.low:g}..{p.high:g} {p.unit}")
    print(f"\n  {'figure':<30}{'target':>9}{'accelsim':>10}{'error':>9}")
    for c in fit.comparisons:
        print(f"  {c.id:<30}{c.target:>9.4g}{c.simulated:>10.4g}{c.error_pct:>+8.1f}%")
    print(f"\nwrote {args.out} ({datetime.date.today().isoformat()})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import accelsim
    from accelsim.report.tables import format_run

    if args.show_config:
        return _show_config(args)
    # Per-op records only for what draws them (a timeline, the per-layer table): they grow with the utterance
    # (about 1 GB at 10,000 frames), while the totals the run prints do not.
    result = accelsim.simulate(args.workload, args.hardware, overrides=args.overrides, precision=args.precision,
                               beam=args.beam, lm_fusion=args.lm, workers=args.workers,
                               keep_records=bool(args.trace) or args.by == "layer",
                               progress=_progress_points("utterances"))
    if args.trace:
        from accelsim.errors import AccelsimError
        from accelsim.report.trace import write_chrome_trace

        if not result.records:
            raise AccelsimError(_no_records("--trace", result))
        write_chrome_trace(result, args.trace)
    layers = _layers(result) if args.by == "layer" else None
    if args.json:
        from accelsim.report.frames import to_records

        extra = {"layers": to_records(layers)} if layers is not None else {}
        print(_dumps(result.to_dict() | extra, "run"))
    else:
        print(format_run(result))
        notes = _quantizer_note(args, result)
        if notes:
            print(notes)
        if layers is not None:
            from accelsim.report.tables import format_layers

            print("\n" + format_layers(layers, result.rtf))
        if args.trace:
            print(f"\nwrote {args.trace}")
    return 0


def _quantizer_note(args: argparse.Namespace, result) -> str:
    """Why a narrower format may be slower here: activation quantizers dispatched as ops of their own (issue 20)."""
    import accelsim
    from accelsim.hw.family import family_of

    if not any("int" in f for f in result.formats.values()):
        return ""
    point = accelsim.api.resolve(args.workload, args.hardware, args.overrides)
    if point.workload.precision.quantize != "separate":
        return ""
    device = family_of(point.hardware)
    field = device.per_op_overhead
    overhead = (f"{getattr(device.unit, field) * 1e6:.3g} us {field.removesuffix('_overhead')} overhead" if field
                else "per-op overhead")
    return (f"\n  note: activation quantizers run as ops of their own (precision.quantize: separate), each paying the "
            f"{overhead}; where dispatch is dear and weights are cheap, a narrower format "
            "can then be slower than a wider one (fused folds each quantizer into the op producing its tensor)")


def _serving_parser(sub, name: str, func, help: str, description: str) -> argparse.ArgumentParser:
    """A serving command: the inputs, the traffic shorthands, the model flags and --json."""
    p = sub.add_parser(name, help=help, description=description)
    _add_inputs(p)
    _add_serving_flags(p)
    _add_model_flags(p)
    _add_json(p)
    p.set_defaults(func=func)
    return p


def _add_serving_flags(p: argparse.ArgumentParser) -> None:
    """Shorthands for workload.serving.* (see accelsim/spec/serving.py); --set reaches every field."""
    p.add_argument("--streams", type=_positive_int, metavar="N", help="always-active streams (closed arrivals)")
    p.add_argument("--rate", type=float, metavar="PER_S", help="Poisson arrivals of this many utterances per second")
    p.add_argument("--max-batch", type=_positive_int, metavar="N", help="most utterances batched into one op")
    p.add_argument("--max-wait", metavar="TIME", help="longest an utterance waits for its encoder batch, e.g. '100 ms'")
    p.add_argument("--duration", metavar="TIME", help="traffic window, e.g. '60 s'")
    p.add_argument("--seed", type=_non_negative_int, metavar="N", help="seed of arrivals and stream offsets")
    p.add_argument("--chips", type=int, metavar="N", help="machines of HW in the fleet, each batching its own utterances "
                                                          "(default 1)")
    p.add_argument("--dispatcher", metavar="NAME", help=f"how an utterance's chip is chosen: {', '.join(DISPATCHERS)} "
                                                        "(default join_shortest_queue)")
    p.add_argument("--level", metavar="LEVEL", help="batch: each batch as its measured phases (default, fast); op: every "
                                                    "op and fetch (the reference)")


#: The serving flags and the field each sets.
SERVING_FLAGS = (("streams", "streams"), ("max_batch", "max_batch"), ("max_wait", "max_wait"), ("duration", "duration"),
                 ("seed", "seed"), ("chips", "chips"), ("dispatcher", "dispatcher"), ("level", "level"))


def _serving_overrides(args: argparse.Namespace):
    from accelsim.spec.loader import Change, Variation, flag_variation

    changes = []
    if args.rate is not None:
        changes += [Change("workload", "serving.arrivals", "poisson", f"--rate {args.rate:g}"),
                    Change("workload", "serving.rate", args.rate, f"--rate {args.rate:g}")]
    for flag, key in SERVING_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            changes.append(Change("workload", f"serving.{key}", value, f"--{flag.replace('_', '-')} {value}"))
    return Variation(tuple(changes)) + Variation.from_flags(args.overrides) + flag_variation(args.precision, args.beam,
                                                                                               args.lm)


def cmd_serve(args: argparse.Namespace) -> int:
    import accelsim.api as api
    from accelsim.serve.tables import format_serve

    result = api.serve(args.workload, args.hardware, overrides=_serving_overrides(args))
    for warning in result.warnings:
        print(f"accelsim: warning: {warning}", file=sys.stderr)
    print(_dumps(result.to_dict(), "serve") if args.json else format_serve(result))
    return 0


def cmd_capacity(args: argparse.Namespace) -> int:
    import accelsim.api as api
    from accelsim.serve.tables import format_capacity

    found = api.capacity(args.workload, args.hardware, args.slo, overrides=_serving_overrides(args),
                         replications=args.replications, find=args.find or "load", workers=args.workers, dask=args.dask)
    if args.plot:
        from accelsim.files import atomic_write_bytes
        from accelsim.serve.plots import plot_capacity

        fmt = args.plot.rsplit(".", 1)[-1].lower()
        if fmt not in ("png", "svg", "pdf"):
            raise AccelsimError(f"--plot {args.plot}: expected a .png, .svg or .pdf file name")
        atomic_write_bytes(args.plot, plot_capacity(found, fmt), parents=True)
    for warning in found.warnings():
        print(f"accelsim: warning: {warning}", file=sys.stderr)
    print(_dumps(found.to_dict(), "capacity") if args.json else format_capacity(found))
    if args.plot and not args.json:
        print(f"wrote {args.plot}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    import accelsim
    from accelsim.report.explain import format_explain, plot_sensitivity
    from accelsim.report.figures import figure_format

    if args.plot:
        figure_format(args.plot)  # a bad extension fails before the simulations, not after
    report = accelsim.explain(args.workload, args.hardware, overrides=args.overrides, precision=args.precision,
                              beam=args.beam, lm_fusion=args.lm, workers=args.workers)
    if args.plot:
        plot_sensitivity(report, args.plot)
    print(_dumps(report.to_dict(), "explain") if args.json else format_explain(report))
    if args.plot and not args.json:
        print(f"\nwrote {args.plot}")
    return 0


def cmd_size(args: argparse.Namespace) -> int:
    from accelsim.report.tables import format_layer_sizes, format_size
    from accelsim.spec.loader import Variation, flag_variation, load_workload
    from accelsim.workload.model import build_model, layer_sizes, model_size

    overrides = Variation.from_flags(args.overrides)
    for change in overrides.changes:
        if change.prefix != "workload":
            raise AccelsimError(f"{change.source}: size reads only a workload; --set takes workload.* paths here")
    spec = load_workload(args.workload, overrides + flag_variation(args.precision))
    with_lms = args.lm if args.lm is not None else (spec.model.lm_ext is not None and spec.model.lm_src is not None)
    model = build_model(spec, with_lms=with_lms)
    report = model_size(model)
    layers = layer_sizes(model) if args.by == "layer" else None
    if args.json:
        print(_dumps(report | ({"layers": layers} if layers is not None else {}), "size"))
    else:
        print(format_size(report))
        if layers is not None:
            print("\n" + format_layer_sizes(layers))
    return 0


# ---------------------------------------------------------------- this machine: probe and measure


def _add_measure_commands(sub) -> None:
    pro = sub.add_parser("probe", help="characterise this CPU with micro-benchmarks and write a hardware YAML",
                         description="Describe the local CPU (model, caches, ISA flags) and measure it with numpy "
                                     "micro-benchmarks only (clock, single-thread and all-core float32 matmul, read "
                                     "bandwidth inside each cache level and in DRAM, per-call overhead), pinned, "
                                     "repeated, minimum CPU time; --out writes a hardware YAML in which every value "
                                     "cites how it was measured.")
    pro.add_argument("--out", metavar="FILE.yaml", help="write the hardware YAML (today's schema) to FILE")
    pro.add_argument("--quick", action="store_true", help="smaller problems and fewer passes (a few seconds; still "
                                                          "at least 5 repeats of each figure)")
    pro.add_argument("--rounds", type=_positive_int, default=1, metavar="N",
                     help="probe N times one after another and keep each figure's fastest, but the median of the "
                          "shared levels' streaming rates (default 1; on a shared machine whose neighbours come and go, "
                          "a few rounds spread the repeats over more time)")
    _add_json(pro)
    pro.set_defaults(func=cmd_probe)

    mea = sub.add_parser("measure", help="run a workload's encoder and one decode iteration on this CPU and compare "
                                         "with accelsim's prediction",
                         description="Run WORKLOAD's encoder and its typical decode iteration for real in a numpy "
                                     "float32 reference runtime (random weights at the model's shapes), pinned, BLAS on "
                                     "--threads threads, at least 5 repeats, and print the minimum and median CPU time "
                                     "beside accelsim's prediction of the same work on HW, with the error.")
    mea.add_argument("workload", help="workload YAML, e.g. workloads/measure/lstm640.yaml")
    mea.add_argument("hardware", nargs="?", help="hardware YAML (default: a fresh accelsim probe of this machine)")
    _add_model_flags(mea, with_beam=True)
    mea.add_argument("--repeats", type=_at_least_five, default=5, metavar="N", help="timed repeats, at least 5 "
                                                                                  "(default 5)")
    mea.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                     help="CPUs and BLAS (onnxruntime intra-op) threads the reference runs on (default 1)")
    mea.add_argument("--onnxruntime", action="store_true",
                     help="also run the encoder through onnxruntime (pip install 'accelsim[measure]')")
    mea.add_argument("--by", choices=["layer"],
                     help="also time each encoder layer alone on its own input, beside the prediction of that layer's "
                          "ops (where the encoder's error comes from)")
    _add_json(mea)
    mea.set_defaults(func=cmd_measure)


def _at_least_five(text: str) -> int:
    value = _positive_int(text)
    if value < 5:
        raise argparse.ArgumentTypeError(f"expected at least 5 repeats (a minimum of fewer is not robust), got {text!r}")
    return value


def cmd_probe(args: argparse.Namespace) -> int:
    from pathlib import Path

    from accelsim.measure.hwyaml import hardware_yaml
    from accelsim.measure.probe import format_probe, run_probe

    if args.out and not Path(args.out).absolute().parent.is_dir():  # before minutes of measuring, not after
        raise AccelsimError(f"{args.out}: cannot write: folder {Path(args.out).absolute().parent} does not exist")
    probe = run_probe(quick=args.quick, rounds=args.rounds)
    if args.out:
        from accelsim.files import atomic_write_text

        atomic_write_text(args.out, hardware_yaml(probe), parents=False)  # --out: its folder must exist
    print(_dumps(probe.to_dict(), "probe") if args.json else format_probe(probe))
    if args.out and not args.json:
        print(f"\nwrote {args.out}")
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    import tempfile
    from dataclasses import replace

    import accelsim.api as api
    from accelsim.measure.compare import format_measurement, measure

    if args.onnxruntime:
        from accelsim.measure.onnx_graph import require_onnxruntime

        require_onnxruntime()
    with tempfile.TemporaryDirectory(prefix="accelsim-probe-") as folder:
        hardware = args.hardware
        if hardware is None:
            from accelsim.measure.hwyaml import hardware_yaml
            from accelsim.measure.probe import run_probe

            from accelsim.measure.compare import check_measurable
            from accelsim.spec.loader import load_workload

            check_measurable(load_workload(args.workload, _flag_overrides(args)), args.workload)  # before the probe
            hardware = f"{folder}/probe.yaml"
            with open(hardware, "w") as handle:
                handle.write(hardware_yaml(run_probe()))
        point = api.resolve(args.workload, hardware, _flag_overrides(args))
    result = measure(point, args.workload, repeats=args.repeats, threads=args.threads, onnxruntime=args.onnxruntime,
                     by_layer=args.by == "layer")
    if args.hardware is None:
        result = replace(result, notes=(*result.notes, "predicted on a fresh probe of this machine (accelsim probe "
                                                       "--out FILE.yaml keeps one to predict on)"))
    print(_dumps(result.to_dict(), "measure") if args.json else format_measurement(result))
    return 0


def _tolerant_streams() -> None:
    """Never crash on printing a name the terminal's encoding cannot show (PYTHONIOENCODING=ascii, a C
    locale): such characters are written as backslash escapes instead."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):  # not a text stream of ours (a test's capture): leave it
            pass


# ---------------------------------------------------------------- input files: schemas, checks, registries


def _add_reference_commands(sub) -> None:
    from accelsim.sweep.reference import KINDS

    kinds = list(KINDS)
    sch = sub.add_parser("schema", help="JSON Schema of a workload, hardware or recipe file (for editors), or the field reference",
                         description="Write the JSON Schema of KIND (from accelsim's input models: every field with its "
                                     "description, range and unit; quantities are strings such as '32 Gbps'), so that an "
                                     "editor validates and completes YAML files; 'fields' writes the Markdown reference of "
                                     "every field of all three kinds (reports/reference/fields.md).")
    sch.add_argument("kind", choices=kinds + ["fields"], help="which schema")
    sch.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    sch.set_defaults(func=cmd_schema)

    val = sub.add_parser("validate", help="check workload, hardware or recipe files without running them",
                         description="Load and validate each FILE (a recipe with its base files and every point's changes) "
                                     "and print 'ok' lines; on the first bad file print one error line and exit 2.")
    val.add_argument("files", nargs="+", metavar="FILE", help="YAML files to check")
    val.add_argument("--kind", choices=kinds, help="the kind of every FILE (default: told from each file's keys)")
    val.set_defaults(func=cmd_validate)

    lst = sub.add_parser("list", help="layer kinds, precision presets, quantizers, plot kinds and arithmetic formats",
                         description="List every name a workload, hardware or recipe file can use from accelsim's registries.")
    _add_json(lst)
    lst.set_defaults(func=cmd_list)


def cmd_schema(args: argparse.Namespace) -> int:
    from accelsim.files import atomic_write_text
    from accelsim.sweep.reference import field_reference, schema

    text = field_reference() if args.kind == "fields" else json.dumps(schema(args.kind), indent=2, ensure_ascii=False) + "\n"
    if args.out:
        atomic_write_text(args.out, text, parents=False)  # --out: its folder must exist
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from accelsim.sweep.reference import validate_file

    for path in args.files:
        kind = validate_file(path, args.kind)
        print(f"ok {path} ({kind})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from accelsim.sweep.reference import registries

    found = registries()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for title, entries in found.items():
        print(f"{title}:")
        width = max(len(n) for n in entries)
        for name, text in entries.items():
            print(f"  {name:<{width}}  {text}")
    return 0


def _show_config(args: argparse.Namespace) -> int:
    import accelsim
    from accelsim.sweep.reference import resolved_config

    workload, hardware = accelsim.api.resolve(args.workload, args.hardware, _flag_overrides(args))
    sys.stdout.write(resolved_config(workload, hardware))
    return 0


def _flag_overrides(args: argparse.Namespace):
    from accelsim.spec.loader import Variation, flag_variation

    return Variation.from_flags(args.overrides) + flag_variation(args.precision, getattr(args, "beam", None), args.lm)


def _layers(result):
    if not result.records:
        raise AccelsimError(_no_records("--by layer", result))
    return result.layers()


def _no_records(flag: str, result) -> str:
    """Why a result has no per-op records for ``flag``: a streaming run or a test set, and how to get them."""
    if result.latency:
        return (f"{flag} follows one utterance run whole; this workload streams chunk by chunk (drop {flag.split()[0]}, "
                "or --set workload.streaming=null)")
    return (f"{flag} follows one utterance's records; this workload describes a test set (drop {flag.split()[0]}, or "
            "--set workload.test_set=null)")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AccelsimError as exc:
        print(f"accelsim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`: not an error of ours
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("accelsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
