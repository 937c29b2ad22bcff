"""Command line: parses arguments, calls the public API, prints. No modelling here."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from accelsim.errors import AccelsimError

DEFAULT_WORKLOAD = "workloads/rnnt_lm_fusion.yaml"
DEFAULT_HW = "hwconfigs/rapid_7nm.yaml"


def _add_model_flags(p: argparse.ArgumentParser, with_beam: bool = True) -> None:
    p.add_argument("--precision", metavar="P",
                   help="precision preset for every network (fp32, fp16, int8, int4, w2a4) or per network, "
                        "e.g. rnnt=int4,lm_ext=int8,lm_src=fp32 (groups: rnnt, lms)")
    if with_beam:
        p.add_argument("--beam", type=int, metavar="N", help="beam width (default: the workload's)")
    p.add_argument("--lm", dest="lm", action=argparse.BooleanOptionalAction, default=None,
                   help="fuse the external LMs (LM_EXT, LM_SRC) or not (default: the workload's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override any field, e.g. --set hw.link.bandwidth='64 Gbps' --set workload.decoding.beam=4 "
                        "(repeatable; values are read as YAML)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelsim",
        description="Discrete-event performance simulator for quantized speech recognition (RNN-T with LM fusion) "
                    "on an AI accelerator: a coprocessor, a host CPU and the link between them.",
        epilog="Start with: accelsim run " + DEFAULT_WORKLOAD + " " + DEFAULT_HW,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="simulate one utterance and report RTF with breakdowns",
                         description="Simulate one utterance of WORKLOAD on HW and print the real-time factor (RTF = "
                                     "processing time / audio duration) with its breakdown by component and by resource "
                                     "(critical-path attribution: each sums to the RTF) and per-resource occupancy.")
    run.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help=f"workload YAML (default: {DEFAULT_WORKLOAD})")
    run.add_argument("hardware", nargs="?", default=DEFAULT_HW, help=f"hardware YAML (default: {DEFAULT_HW})")
    _add_model_flags(run)
    run.add_argument("--json", action="store_true", help="print one JSON object and nothing else on stdout")
    run.set_defaults(func=cmd_run)

    size = sub.add_parser("size", help="model size (MB = 10^6 bytes) and compression vs FP32",
                          description="Print the stored size of each network at its precision (weights at their bits, "
                                      "biases in FP32) in MB (10^6 bytes) and the compression ratio against FP32.")
    size.add_argument("workload", nargs="?", default=DEFAULT_WORKLOAD, help=f"workload YAML (default: {DEFAULT_WORKLOAD})")
    _add_model_flags(size, with_beam=False)
    size.add_argument("--json", action="store_true", help="print one JSON object and nothing else on stdout")
    size.set_defaults(func=cmd_size)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    import accelsim
    from accelsim.report.tables import format_run

    result = accelsim.simulate(args.workload, args.hardware, overrides=args.overrides, precision=args.precision,
                               beam=args.beam, lm_fusion=args.lm)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_run(result))
    return 0


def cmd_size(args: argparse.Namespace) -> int:
    from accelsim.api import run_overrides
    from accelsim.report.tables import format_size
    from accelsim.spec.loader import load_workload
    from accelsim.workload.model import build_model, model_size

    spec = load_workload(args.workload, list(args.overrides) + run_overrides(args.precision))
    with_lms = args.lm if args.lm is not None else (spec.model.lm_ext is not None and spec.model.lm_src is not None)
    report = model_size(build_model(spec, with_lms=with_lms))
    print(json.dumps(report, indent=2) if args.json else format_size(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
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
