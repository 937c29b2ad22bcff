"""Load YAML inputs into validated specs, with ``--set PATH=VALUE`` overrides.

This is the door: every user error in an input becomes one :class:`SpecError` naming the file (or
the ``--set`` flag), the key path and what was expected. Past this point the code trusts the spec.
"""

from __future__ import annotations

import copy
import hashlib
import re
import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, PlainSerializer, ValidationError

from accelsim.errors import SpecError
from accelsim.memo import memoize
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.workload import WorkloadSpec
from accelsim.spec.layers import LAYER_KINDS

M = TypeVar("M", bound=BaseModel)

PREFIXES = {"workload": WorkloadSpec, "hw": HardwareSpec}


# ---------------------------------------------------------------- reading files


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML file into a mapping, or raise one clear SpecError. Callers get their own copy."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is not None and path.is_file():
        try:
            content = path.read_bytes()
        except OSError:
            return _read_yaml(path)
        return copy.deepcopy(_read_yaml_cached(str(path), hashlib.sha256(content).hexdigest()))
    return _read_yaml(path)


@memoize("parsed YAML files", 64)
def _read_yaml_cached(path: str, digest: str) -> dict[str, Any]:
    """Parsed once per file content: sweeps load the same two files for every point."""
    return _read_yaml(Path(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise SpecError(str(path), None, "is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), None, f"cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(str(path), None, f"{where}invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(str(path), None, f"expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"hw.link.bandwidth=64 Gbps"`` -> ("hw", "link.bandwidth", "64 Gbps"). Values are read as YAML."""
    source = f"--set {text}"
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise SpecError(source, None, "expected PATH=VALUE, e.g. hw.link.bandwidth='64 Gbps'")
    prefix, _, rest = path.partition(".")
    if prefix not in PREFIXES or not rest:
        raise SpecError(source, None, f"the path must start with one of {[p + '.' for p in PREFIXES]}, got {path!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return prefix, rest, value


def apply_override(data: dict[str, Any], key: str, value: Any, source: str) -> dict[str, Any]:
    """Return a copy of ``data`` with the dotted ``key`` set to ``value`` (list items by index)."""
    data = copy.deepcopy(data)
    node: Any = data
    parts = key.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SpecError(source, ".".join(parts[: depth + 1]), f"expected a list index below {len(node)}")
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
        else:
            raise SpecError(source, ".".join(parts[:depth]), "is a value, not a section; cannot set a key inside it")
        if last:
            node[index] = value
        else:
            if isinstance(node, dict) and not isinstance(node.get(index), (dict, list)):
                node[index] = {}
            node = node[index]
    return data


# ---------------------------------------------------------------- validation errors


def _strip_tags(loc: tuple) -> list:
    """Pydantic puts a tagged union's tag in the location; users never wrote it."""
    out: list = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in LAYER_KINDS and i > 0 and isinstance(loc[i - 1], int):
            continue
        out.append(part)
    return out


def _fields_at(model: type[BaseModel], loc: list, data: Any) -> list[str] | None:
    """The keys allowed at ``loc`` (to suggest a fix for a misspelt key), or None when unknown."""
    current: Any = model
    node = data
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        node = node.get(part) if isinstance(node, dict) else None
        current = _unwrap(annotation, node)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def _unwrap(annotation: Any, node: Any) -> Any:
    """Find the model class behind Optional[...], list[...], Annotated[Union[...]]."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], node)
    if origin is list:
        item = node[0] if isinstance(node, list) and node else None
        return _unwrap(typing.get_args(annotation)[0], item)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) == 1:
            return models[0]
        kind = node.get("kind") if isinstance(node, dict) else None
        return LAYER_KINDS.get(kind) if kind else None
    return annotation


def _message(error: dict, model: type[BaseModel], data: Any) -> tuple[str, str]:
    loc = _strip_tags(tuple(error.get("loc", ())))
    key = ".".join(str(p) for p in loc)
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if not key:  # a whole-model check names its key at the head of its message
        named = re.match(r"^([A-Za-z_][\w.]*): (.+)$", msg, re.S)
        if named:
            key, msg = named[1], named[2]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1], data)
        msg = "unknown key"
        if allowed:
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            msg += f" (did you mean {close[0]!r}?)" if close else ""
            msg += f"; expected one of {allowed}"
    elif kind == "missing":
        msg = "missing required key"
    elif kind not in ("value_error", "assertion_error") and "input" in error:
        msg = f"{msg}, got {error['input']!r}"
    return key, msg


def validate(model: type[M], data: dict[str, Any], source: str, overrides: dict[str, str] | None = None) -> M:
    """Validate ``data`` against ``model``; turn the first error into a SpecError.

    ``overrides`` maps an overridden key path to the ``--set`` flag that set it, so that an error in
    an overridden value names the flag rather than the file.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # A misspelt required key shows up twice: as an unknown key and as a missing one. The unknown
        # key is the one to report: its message names the misspelling and suggests the right name.
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        key, msg = _message(errors[0], model, data)
        if len(errors) > 1:
            msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        where = source
        for path, flag in (overrides or {}).items():
            if key and (key == path or key.startswith(path + ".") or path.startswith(key + ".")):
                where = flag
        if where == source and overrides:
            msg += f" (with {', '.join(overrides.values())} applied)"
        raise SpecError(where, key or None, msg) from None


# ---------------------------------------------------------------- variations


@dataclass(frozen=True, slots=True)
class Change:
    """One field of one spec set to a value: ``prefix`` is "hw" or "workload", ``key`` a dotted path under it.

    ``value`` is as a YAML file would give it (``"64 Gbps"``) when ``typed`` is false: what a user wrote in
    a ``--set`` flag or a recipe, where a bare number for a unit-carrying field is an error. When ``typed`` is
    true it comes from code, and a number for a unit-carrying field is in SI units (seconds, bytes, hertz,
    bytes per second). ``source`` names where it came from in error messages.
    """

    prefix: str
    key: str
    value: Any
    source: str
    typed: bool = False

    @property
    def path(self) -> str:
        return f"{self.prefix}.{self.key}"


@dataclass(frozen=True, slots=True)
class Variation:
    """Typed updates of the two specs, applied in order and validated again (see :meth:`apply`)."""

    changes: tuple[Change, ...] = ()

    @classmethod
    def of(cls, values: dict[str, Any] | None = None, source: str = "") -> "Variation":
        """From ``{"hw.link.bandwidth": 8e9, "workload.decoding.beam": 4}`` (paths with their prefix)."""
        changes = []
        for path, value in (values or {}).items():
            prefix, _, key = path.partition(".")
            if prefix not in PREFIXES or not key:
                raise SpecError(source or path, None, f"the path must start with one of {[p + '.' for p in PREFIXES]}, got {path!r}")
            changes.append(Change(prefix, key, value, source or f"{path}={_short(value)}", typed=True))
        return cls(tuple(changes))

    @classmethod
    def from_flags(cls, flags: Iterable[str]) -> "Variation":
        """From ``--set PATH=VALUE`` strings (values read as YAML), parsed once, here at the door."""
        changes = []
        for text in flags:
            prefix, key, value = parse_override(text)
            changes.append(Change(prefix, key, value, f"--set {text}"))
        return cls(tuple(changes))

    def __add__(self, other: "Variation") -> "Variation":
        return Variation(self.changes + other.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def for_prefix(self, prefix: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.prefix == prefix)

    def apply(self, model: type[M], data: dict[str, Any], prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
        """``data`` (a spec as YAML gives it) with this variation's ``prefix`` changes, and which source set which key."""
        flags: dict[str, str] = {}
        for change in self.for_prefix(prefix):
            value = _input_form(model, change.key, change.value) if change.typed else change.value
            data = apply_override(data, change.key, value, change.source)
            flags[change.key] = change.source
        return data, flags


def as_variation(overrides: "Variation | Iterable[str]") -> Variation:
    """A variation, from either a variation or ``--set`` strings."""
    return overrides if isinstance(overrides, Variation) else Variation.from_flags(overrides)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _input_form(model: type[BaseModel], key: str, value: Any) -> Any:
    """A typed SI number for a unit-carrying field becomes the exact text its serializer writes ("64 Gbps")."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    current: Any = model
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return value
        if part not in current.model_fields:
            return value
        info = current.model_fields[part]
        if depth == len(parts) - 1:
            serializer = next((m for m in info.metadata if isinstance(m, PlainSerializer)), None)
            return serializer.func(value) if serializer is not None else value
        current = _unwrap(info.annotation, None)
        if typing.get_origin(current) in (list, dict) and depth + 1 < len(parts):  # an index or a dict key
            return value
    return value


# ---------------------------------------------------------------- public loaders


def load_spec(model: type[M], path: str | Path, prefix: str, overrides: "Variation | Iterable[str]" = ()) -> M:
    data = read_yaml(path)
    if prefix == "workload":
        data = _trace_beside_file(data, Path(path))
    data, flags = as_variation(overrides).apply(model, data, prefix)
    return validate(model, data, str(path), flags)


def _trace_beside_file(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A relative ``decoding.trace`` written in a workload file is relative to that file (one given
    with --set stays relative to the working directory, like any command-line path)."""
    decoding = data.get("decoding")
    trace = decoding.get("trace") if isinstance(decoding, dict) else None
    if isinstance(trace, str) and trace and not Path(trace).is_absolute():
        decoding["trace"] = str((path.parent / trace).resolve())
    return data


def override_spec(spec: M, prefix: str, overrides: "Variation | Iterable[str]") -> M:
    """An in-memory spec with the ``prefix.`` changes applied, validated again."""
    variation = as_variation(overrides)
    if not variation.for_prefix(prefix):
        return spec
    data, flags = variation.apply(type(spec), spec.model_dump(mode="json"), prefix)
    return validate(type(spec), data, f"<{prefix} spec>", flags)


def load_workload(path: str | Path, overrides: "Variation | Iterable[str]" = ()) -> WorkloadSpec:
    """Read a workload YAML; ``overrides`` are ``--set`` strings or a :class:`Variation` (only ``workload.*`` applies)."""
    return load_spec(WorkloadSpec, path, "workload", overrides)


def load_hardware(path: str | Path, overrides: "Variation | Iterable[str]" = ()) -> HardwareSpec:
    """Read a hardware YAML; ``overrides`` are ``--set`` strings or a :class:`Variation` (only ``hw.*`` applies)."""
    return load_spec(HardwareSpec, path, "hw", overrides)


def flag_variation(precision: str | None = None, beam: int | None = None, lm_fusion: bool | None = None) -> Variation:
    """The changes of the convenience flags ``--precision``, ``--beam`` and ``--lm/--no-lm``."""
    from accelsim.spec.precision import parse_precision_flag

    changes: list[Change] = []
    if precision is not None:
        source = f"--precision {precision}"
        try:
            chosen = parse_precision_flag(precision)
        except ValueError as exc:
            raise SpecError("--precision", None, str(exc)) from None
        if "default" in chosen:
            changes += [Change("workload", "precision.default", chosen["default"], source),
                        Change("workload", "precision.networks", {}, source)]
        else:
            changes.append(Change("workload", "precision.networks", chosen, source))
    if beam is not None:
        changes.append(Change("workload", "decoding.beam", beam, f"--beam {beam}"))
    if lm_fusion is not None:
        changes.append(Change("workload", "decoding.lm_fusion", lm_fusion, "--lm" if lm_fusion else "--no-lm"))
    return Variation(tuple(changes))
