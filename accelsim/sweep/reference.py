"""The three kinds of input file (workload, hardware, recipe): their JSON Schemas, a Markdown reference of
every field, what is registered by name (layer kinds, presets, quantizers, plot kinds), and a check of a
file without running it.

Lives beside the recipe model, the highest of the three, so that it can see all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from accelsim.errors import SpecError
from accelsim.spec.hardware import FORMAT_BITS, HardwareSpec
from accelsim.spec.layers import LAYER_KINDS
from accelsim.files import find_input
from accelsim.spec.loader import Variation, load_hardware, load_workload, read_yaml
from accelsim.spec.precision import CODEBOOK_QUANTIZERS, PRESETS, QUANTIZER_PASSES, QUANTIZERS
from accelsim.spec.schema import field_docs, field_table, json_schema
from accelsim.spec.workload import WorkloadSpec
from accelsim.sweep.recipe import RecipeSpec, expand, load_recipe

#: Each kind of input file: its model and a one-line description.
KINDS: dict[str, tuple[type[BaseModel], str]] = {
    "workload": (WorkloadSpec, "An accelsim workload: a model (networks, layers), its precision and how it is decoded."),
    "hardware": (HardwareSpec, "An accelsim machine: a coprocessor, a host CPU, the link between them, and where weights live."),
    "recipe": (RecipeSpec, "An accelsim report recipe: a base workload and machine, axes to vary, and plots."),
}

#: Where the committed reference lives (see README, "Editor support"); tests regenerate and compare.
REFERENCE_DIR = Path("reports") / "reference"


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a kind of input file (quantities are strings with units, as the YAML writes them)."""
    model, description = KINDS[kind]
    return json_schema(model, f"accelsim {kind}", description)


def registries() -> dict[str, dict[str, str]]:
    """Everything a YAML file or flag names from a registry, with a one-line description each."""
    def doc(obj: Any) -> str:
        """The docstring's first paragraph, whole (its first line alone may stop mid-sentence)."""
        return " ".join((obj.__doc__ or "").strip().split("\n\n")[0].split())

    layers = {kind: f"{doc(cls)} Fields: {', '.join(f for f in cls.model_fields if f not in ('kind', 'name'))}."
              for kind, cls in LAYER_KINDS.items()}
    presets = {name: doc(fn) or f"every layer {name.upper()}" for name, fn in PRESETS.items()}
    quantizers = {q: ("no quantizer (floating point)" if q == "none" else
                      "weights only: k-bit indices into a per-layer codebook of learned (non-uniform) centroids"
                      + (" in a mu-law constrained space (General Quantizer)" if q == "GQ" else "")
                      if q in CODEBOOK_QUANTIZERS else
                      f"{QUANTIZER_PASSES[q]} element-wise pass{'es' if QUANTIZER_PASSES[q] > 1 else ''} per element"
                      + (" (needs run-time statistics)" if QUANTIZER_PASSES[q] > 1 else " (fixed range)"))
                  for q in QUANTIZERS}
    from accelsim.sweep.plots import PLOT_KINDS

    plots = {kind: doc(fn) for kind, fn in PLOT_KINDS.items()}
    formats = {f: f"{bits}-bit operands" for f, bits in FORMAT_BITS.items()}
    return {"layer kinds": layers, "precision presets": presets, "quantizer kinds": quantizers, "plot kinds": plots,
            "arithmetic formats": formats}


def field_reference() -> str:
    """Markdown: every field of the three kinds of file, and of each layer kind (what ``reports/reference/fields.md`` holds)."""
    parts = ["# accelsim input reference", "",
             "Generated from the pydantic models by `accelsim schema fields --out reports/reference/fields.md`; "
             "`tests/test_reference.py` regenerates it and fails when it is out of date or a field has no description.",
             "",
             "Quantities are written with a unit (`\"32 Gbps\"`, `\"2 MiB\"`, `\"1.6 GHz\"`, `\"2 us\"`) and stored in SI; "
             "the unit column gives the SI unit and the units a value may be written in. Paths are dotted; `[]` is an "
             "item of a list, `KEY` any key of a mapping. JSON Schemas for editors: `workload.schema.json`, "
             "`hardware.schema.json`, `recipe.schema.json` beside this file.", ""]
    for kind, (model, description) in KINDS.items():
        parts += [f"## {kind}", "", description, "", field_table(field_docs(model)), ""]
    parts += ["## layer kinds", "",
              "Each entry of a network's `layers` list (`model.encoder.layers[]`, ...) is one of these, chosen by `kind`.", ""]
    for kind, cls in LAYER_KINDS.items():
        parts += [f"### `{kind}`", "", field_table(field_docs(cls)), ""]
    parts += ["## names from registries", ""]
    for title, entries in registries().items():
        parts += [f"### {title}", "", *(f"- `{name}`: {text}" for name, text in entries.items()), ""]
    return "\n".join(parts)


def missing_descriptions() -> list[str]:
    """Fields without a description, as ``kind: path``."""
    models = [(k, m) for k, (m, _) in KINDS.items()] + [(f"layer {k}", c) for k, c in LAYER_KINDS.items()]
    return [f"{k}: {d.path}" for k, m in models for d in field_docs(m) if not d.description]


# ---------------------------------------------------------------- validating files


def detect_kind(data: dict[str, Any]) -> str | None:
    """Which kind of file a parsed YAML mapping is, from its top-level keys (None when it cannot tell)."""
    keys = set(data)
    if keys & {"coprocessor", "host", "link", "memory"}:
        return "hardware"
    if keys & {"model", "utterance", "decoding", "test_set", "precision"}:
        return "workload"
    if keys & {"axes", "zip", "plots", "set"} or {"workload", "hardware"} <= keys:
        return "recipe"
    return None


def validate_file(path: str | Path, kind: str | None = None) -> str:
    """Check one input file without running anything; returns its kind, raises one :class:`SpecError` otherwise.

    A recipe is checked with its base workload and machine and every point's variation of them."""
    from accelsim.pipeline import resolve

    folders = {"workload": ("workloads",), "hardware": ("hwconfigs",), "recipe": ("reports",)}.get(
        kind or "", ("workloads", "hwconfigs", "reports"))
    path = next((p for p in (find_input(path, f) for f in folders) if p.exists()), Path(path))  # a path or a name
    if kind is None:
        kind = detect_kind(read_yaml(path))
        if kind is None:
            raise SpecError(str(path), None, "cannot tell whether this is a workload, hardware or recipe file "
                                             "(expected keys such as model, coprocessor or axes); pass --kind")
    if kind == "workload":
        load_workload(path)
    elif kind == "hardware":
        load_hardware(path)
    else:
        recipe = load_recipe(path)
        base = Variation.from_flags(recipe.spec.set)
        resolve(recipe.workload, recipe.hardware, base)
        for point in expand(recipe.spec):
            resolve(recipe.workload, recipe.hardware, base + point.variation())
    return kind


def resolved_config(workload: WorkloadSpec, hardware: HardwareSpec) -> str:
    """Both specs as YAML, every default filled in (each half is a valid file of its kind)."""
    import yaml

    data = {"workload": workload.model_dump(mode="json"), "hardware": hardware.model_dump(mode="json")}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)

