"""JSON Schema of the input models (for editors that validate and complete YAML) and a Markdown field
reference (every field with its type, unit, default and description), both derived from the pydantic
models themselves so that they cannot drift from what the loader accepts.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from accelsim.spec.base import Unit

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: The first line of a YAML file that tells an editor's YAML language server which JSON Schema the file follows.
EDITOR_SCHEMA = "# yaml-language-server: $schema="


def editor_schema_line(schema_file: str | Path, written_to: str | Path) -> str:
    """The editor's schema line for a file written to ``written_to``, the schema's path relative to that file."""
    relative = os.path.relpath(Path(schema_file).resolve(), Path(written_to).resolve().parent)
    return EDITOR_SCHEMA + Path(relative).as_posix()


def json_schema(model: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    """The JSON Schema of ``model`` as a YAML file of that kind is written (quantities as strings with units)."""
    schema = model.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, "title": title, "description": description} | \
        {k: v for k, v in schema.items() if k not in ("title", "description")}


def schema_text(model: type[BaseModel], title: str, description: str) -> str:
    return json.dumps(json_schema(model, title, description), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- field reference


@dataclass(frozen=True)
class FieldDoc:
    path: str  # dotted, lists as []: "model.encoder.layers[]"
    type: str
    unit: str
    default: str
    description: str


def _strip_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        metadata += list(annotation.__metadata__)
        annotation = typing.get_args(annotation)[0]
    return annotation, metadata


def _unit_of(annotation: Any, metadata: list[Any] = ()) -> Unit | None:
    for item in metadata:
        if isinstance(item, Unit):
            return item
    annotation, inner = _strip_annotated(annotation)
    for item in inner:
        if isinstance(item, Unit):
            return item
    for arg in typing.get_args(annotation):
        found = _unit_of(arg)
        if found:
            return found
    return None


#: Column-name suffix of each SI unit (``hw.link.bandwidth_bytes_per_s``).
SI_SUFFIX = {"B/s": "bytes_per_s", "B": "bytes", "s": "s", "Hz": "Hz"}


def field_at(model: type[BaseModel], path: str) -> FieldInfo | None:
    """The field at dotted ``path`` of ``model`` through nested sections (None when there is none)."""
    parts = path.split(".")
    for i, name in enumerate(parts):
        info = model.model_fields.get(name)
        if info is None or i == len(parts) - 1:
            return info
        inner = _models_in(info.annotation)
        if len(inner) != 1 or inner[0][0]:
            return None
        model = inner[0][1]
    return None


def unit_at(model: type[BaseModel], path: str) -> Unit | None:
    """The unit of the quantity field at dotted ``path`` of ``model`` (None when it is not a quantity)."""
    info = field_at(model, path)
    return _unit_of(info.annotation, info.metadata) if info is not None else None


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def _type_name(annotation: Any) -> str:
    annotation, metadata = _strip_annotated(annotation)
    unit = next((m for m in metadata if isinstance(m, Unit)), None)
    if unit:
        return f"{unit.quantity} (e.g. '{unit.example}')"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if _is_union(origin) and all(isinstance(a, type) and issubclass(a, BaseModel) and "kind" in a.model_fields for a in args):
        return "layer, by kind: " + ", ".join(str(a.model_fields["kind"].default) for a in args)
    if _is_union(origin):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) if isinstance(a, str) else str(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is Any:
        return "any value"
    return {str: "text", int: "integer", float: "number", bool: "true/false"}.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """Models a field holds, with the path suffix that reaches them ("" directly, "[]" in a list, ".KEY" in a mapping)."""
    annotation, _ = _strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if _is_union(origin):
        found = [m for a in args for m in _models_in(a)]
        return found if len({id(m) for _, m in found}) == 1 else []  # a union of layer kinds is documented apart
    if origin is list:
        return [("[]" + s, m) for s, m in _models_in(args[0])]
    if origin is dict:
        return [(".KEY" + s, m) for s, m in _models_in(args[1])]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    return []


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(its defaults)"
    unit = _unit_of(info.annotation, info.metadata)
    if unit and isinstance(value, float):
        return json.dumps(value) + f" {unit.si}"
    return json.dumps(value, default=str)


def field_docs(model: type[BaseModel], prefix: str = "") -> list[FieldDoc]:
    """Every field of ``model`` and of the sections inside it, depth first, in declaration order."""
    out: list[FieldDoc] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        unit = _unit_of(info.annotation, info.metadata)
        type_name = _type_name(typing.Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation)
        unit_text = f"{unit.si} (written {unit.written})" if unit else ""
        out.append(FieldDoc(path, type_name, unit_text, _default(info), (info.description or "").strip()))
        for suffix, sub in _models_in(info.annotation):
            out += field_docs(sub, f"{path}{suffix}.")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def field_table(docs: list[FieldDoc]) -> str:
    lines = ["| field | type | unit | default | description |", "|---|---|---|---|---|"]
    for d in docs:
        lines.append(f"| `{d.path}` | {_cell(d.type)} | {_cell(d.unit)} | {_cell(d.default)} | {_cell(d.description)} |")
    return "\n".join(lines)
