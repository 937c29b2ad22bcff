"""Load YAML inputs into validated specs, with ``--set PATH=VALUE`` overrides.

This is the door: every user error in an input becomes one :class:`SpecError` naming the file (or
the ``--set`` flag), the key path and what was expected. Past this point the code trusts the spec.
"""

from __future__ import annotations

import copy
import hashlib
import re
import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, PlainSerializer, ValidationError

from accelsim.errors import SpecError
from accelsim.files import find_input, shipped_names
from accelsim.memo import memoize
from accelsim.spec.limits import (MAX_ALIASES, MAX_DEPTH, MAX_FILE_BYTES, MAX_KEY, MAX_KEY_PARTS, MAX_MESSAGE,
                                  MAX_NODES, MAX_SOURCE, clip, clip_middle, one_line, show, show_names)
from accelsim.spec.hardware import GpuRuntimeSpec, HardwareSpec
from accelsim.spec.workload import WorkloadSpec
from accelsim.spec.layers import LAYER_KINDS

M = TypeVar("M", bound=BaseModel)

PREFIXES = {"workload": WorkloadSpec, "hw": HardwareSpec}


# ---------------------------------------------------------------- reading files


def _error(source: str, key: str | None, message: str) -> SpecError:
    """A SpecError of one printable line, at most MAX_MESSAGE characters, whatever the user wrote."""
    source = clip_middle(one_line(source), MAX_SOURCE)
    key = clip(one_line(key), MAX_KEY) if key else None
    head = len(source) + 2 + (len(key) + 2 if key else 0)
    return SpecError(source, key, clip(one_line(message), MAX_MESSAGE - head))


class _Refused(yaml.MarkedYAMLError):
    """A document that is valid YAML but past one of the limits of accelsim.spec.limits."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with limits: nesting depth, aliases, and values after alias expansion.

    The composer builds the node tree recursively; counting here refuses a deep document before
    Python's recursion limit is reached, and an alias bomb before anything expands it (a node reached
    through an alias counts as many values as it holds). Also reads ``1e-3`` as a number, as YAML 1.2
    does (YAML 1.1 wants a dot in ``1.0e-3`` and would give the string '1e-3').
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0
        self._sizes: dict[str, int] = {}
        self._open: set[str] = set()

    def _count(self, n: int, event: yaml.Event) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise _Refused(problem=f"more than {MAX_NODES:,} values (after expanding aliases)", problem_mark=event.start_mark)

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(problem=f"more than {MAX_ALIASES:,} aliases", problem_mark=event.start_mark)
            if event.anchor in self._open:
                raise _Refused(problem=f"alias *{clip(one_line(str(event.anchor)), 40)} refers to a value that contains it",
                               problem_mark=event.start_mark)
            self._count(self._sizes.get(event.anchor, 1), event)
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _Refused(problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=event.start_mark)
        anchor = getattr(event, "anchor", None)
        first = self._nodes
        self._count(1, event)
        self._depth += 1
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)
        if anchor is not None:
            self._sizes[anchor] = self._nodes - first
        return node


class _Duplicate(_Refused):
    """A key written twice in one mapping (YAML would silently keep the last value)."""

    def __init__(self, path: list[str], first: yaml.Mark, again: yaml.Mark):
        self.path = ".".join(path)
        self.lines = (first.line + 1, again.line + 1)
        super().__init__(problem=f"duplicate key {show(path[-1])}", problem_mark=again)

    @property
    def message(self) -> str:
        return (f"duplicate key: at line {self.lines[0]} and again at line {self.lines[1]} "
                "(YAML would silently keep the last; write each key once)")


def _refuse_duplicate_keys(loader: _Loader, node: yaml.Node, path: list[str], seen: set[int]) -> None:
    """Walk the composed document; raise :class:`_Duplicate` at the first key that a mapping repeats.

    Keys are compared as their values (``1`` and ``"1"`` differ, ``beam`` and ``"beam"`` do not); the YAML merge key
    ``<<`` is left to the constructor (explicit keys override merged ones, as YAML intends). Each node is walked once,
    however many aliases refer to it."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = loader.construct_object(key_node)
                name = str(key)
                try:
                    if key in first:
                        raise _Duplicate([*path, name], first[key], key_node.start_mark)
                    first[key] = key_node.start_mark
                except TypeError:  # an unhashable key: the validation says what is wrong with it
                    pass
            else:
                name = "?"
            _refuse_duplicate_keys(loader, value_node, [*path, name], seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(loader, item, [*path, str(index)], seen)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _load(text: str) -> Any:
    """Parse one YAML document with :class:`_Loader`. Raises yaml.YAMLError (or _Refused) or ValueError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(loader, node, [], set())
        return loader.construct_document(node)
    except (OverflowError, TypeError, RecursionError) as exc:  # constructors of odd scalars; never past the depth limit
        raise ValueError(str(exc)) from None
    finally:
        loader.dispose()


def _yaml_problem(exc: Exception) -> str:
    """``line 2, column 3: invalid YAML: ...`` (or what limit the document is past)."""
    if not isinstance(exc, yaml.YAMLError):
        return f"invalid YAML: {exc}"  # a ValueError from a scalar (a date such as 2020-13-45, an int of 5,000 digits)
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
    if isinstance(exc, _Refused):
        return f"{where}{problem}; refusing the file"
    return f"{where}invalid YAML: {problem}"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML file into a mapping, or raise one clear SpecError. Callers get their own copy.

    At most MAX_FILE_BYTES are read (``/dev/zero`` is refused, not read forever), and documents past the
    nesting, alias or size limits of :mod:`accelsim.spec.limits` are refused.
    """
    path = Path(path)
    content = _read_bytes(path)
    try:
        regular = path.is_file()
    except (OSError, ValueError):
        regular = False
    if regular:
        return copy.deepcopy(_read_yaml_cached(str(path), hashlib.sha256(content).hexdigest()))
    return _parse(content, str(path))


@memoize("parsed YAML files", 64)
def _read_yaml_cached(path: str, digest: str) -> dict[str, Any]:
    """Parsed once per file content: sweeps load the same two files for every point."""
    return _read_yaml(Path(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    return _parse(_read_bytes(path), str(path))


def _read_bytes(path: Path) -> bytes:
    """The file's first MAX_FILE_BYTES + 1 bytes (one more than allowed, to tell that it is too large)."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _error(source, None, "no such file") from None
    except IsADirectoryError:
        raise _error(source, None, "is a directory, expected a YAML file") from None
    except OSError as exc:
        raise _error(source, None, f"cannot read: {exc.strerror or exc}") from None
    except ValueError:  # open() refuses a NUL in the name
        raise _error(source, None, "cannot read: the file name contains a NUL character") from None


def _parse(content: bytes, source: str) -> dict[str, Any]:
    if len(content) > MAX_FILE_BYTES:
        raise _error(source, None, f"larger than {MAX_FILE_BYTES // 2**20} MiB, the most an input file may be "
                                   "(workload, hardware and recipe files are a few kB)")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(source, None, f"cannot read: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = _load(text)
    except _Duplicate as exc:
        raise _error(source, exc.path, exc.message) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise _error(source, None, _yaml_problem(exc)) from None
    if not isinstance(data, dict):
        raise _error(source, None, f"expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"hw.link.bandwidth=64 Gbps"`` -> ("hw", "link.bandwidth", "64 Gbps"). Values are read as YAML."""
    source = f"--set {text}"
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise _error(source, None, "expected PATH=VALUE, e.g. hw.link.bandwidth='64 Gbps'")
    prefix, _, rest = path.partition(".")
    if prefix not in PREFIXES or not rest:
        raise _error(source, None, f"the path must start with one of {[p + '.' for p in PREFIXES]}, got {show(path)}")
    if rest.count(".") >= MAX_KEY_PARTS:
        raise _error(source, None, f"the path has more than {MAX_KEY_PARTS} parts")
    if len(raw) > MAX_FILE_BYTES:
        raise _error(source, None, f"the value is longer than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        value = _load(raw) if raw.strip() else ""
    except _Duplicate as exc:
        raise _error(source, f"{rest}.{exc.path}", "duplicate key in the value (write each key once)") from None
    except _Refused as exc:
        raise _error(source, None, f"the value is {exc.problem}") from None
    except (yaml.YAMLError, ValueError):
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
            if not (part.isascii() and part.isdigit()) or len(part) > 18 or int(part) >= len(node):
                raise _error(source, ".".join(parts[: depth + 1]), f"expected a list index below {len(node)}")
            index: Any = int(part)
        elif isinstance(node, dict):
            index = part
        else:
            raise _error(source, ".".join(parts[:depth]), "is a value, not a section; cannot set a key inside it")
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
    """The keys allowed at ``loc`` (to suggest a fix for a misspelt key), or None when unknown.

    ``data`` is what the user wrote, so any value may be anywhere: a list where a section belongs, a list
    as a layer's ``kind``. Where the schema and the data part ways, there is no suggestion.
    """
    current: Any = model
    node = data
    for part in loc:
        if isinstance(part, int):
            if typing.get_origin(current) is not list:
                return None
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            current = _unwrap(typing.get_args(current)[0], node)
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or not isinstance(part, str):
            return None
        if part not in current.model_fields:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        current = _unwrap(current.model_fields[part].annotation, node)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def _unwrap(annotation: Any, node: Any) -> Any:
    """The model class (or ``list[...]``) behind Optional[...] and Annotated[Union[...]], given the user's ``node``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], node)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0], node)
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) == 1:
            return models[0]
        kind = node.get("kind") if isinstance(node, dict) else None
        return LAYER_KINDS.get(kind) if isinstance(kind, str) else None  # the user's kind may be any value, even a list
    return annotation


def _suggest(model: type[BaseModel], loc: list, data: Any) -> str:
    """`` (did you mean 'beam'?); expected one of [...]`` for an unknown key at ``loc``, or ''."""
    try:
        allowed = _fields_at(model, loc[:-1], data)
    except Exception:  # a suggestion is a courtesy: never let it hide the error itself
        allowed = None
    if not allowed:
        return ""
    close = difflib.get_close_matches(clip(str(loc[-1]), MAX_KEY), allowed, n=1)
    return (f" (did you mean {close[0]!r}?)" if close else "") + f"; expected one of {allowed}"


def _message(error: dict, model: type[BaseModel], data: Any) -> tuple[str, str]:
    """(key path, what is wrong) for one pydantic error; a user's value is never shown at more than MAX_SHOWN."""
    loc = _strip_tags(tuple(error.get("loc", ())))
    key = ".".join(clip(str(p), MAX_KEY) for p in loc)
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if not key:  # a whole-model check names its key at the head of its message
        named = re.match(r"^([A-Za-z_][\w.]*): (.+)$", msg, re.S)
        if named:
            key, msg = named[1], named[2]
    if kind == "extra_forbidden":
        msg = "unknown key" + _suggest(model, loc, data)
    elif kind == "missing":
        msg = "missing required key"
    else:
        if kind == "union_tag_invalid":  # pydantic's message quotes the whole tag, however long
            ctx = error.get("ctx") or {}
            msg = (f"Input tag {show(ctx.get('tag'))} found using {ctx.get('discriminator')} does not match any of the "
                   f"expected tags: {ctx.get('expected_tags')}")
        if kind not in ("value_error", "assertion_error") and "input" in error:
            msg = f"{msg}, got {show(error['input'])}"
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
        try:
            key, msg = _message(errors[0], model, data)
        except Exception:  # the helper must never turn a user's error into a traceback
            key, msg = ".".join(map(str, errors[0].get("loc", ()))), str(errors[0].get("msg", "invalid value"))
        if len(errors) > 1:
            msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        where = source
        for path, flag in (overrides or {}).items():
            if key and (key == path or key.startswith(path + ".") or path.startswith(key + ".")):
                where = flag
        if where == source and overrides:
            msg += f" (with {', '.join(overrides.values())} applied)"
        raise _error(where, key or None, msg) from None


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
    depth = 0
    while depth < len(parts):
        if typing.get_origin(current) is list:  # a list item by index (memory.levels.0.capacity)
            current, depth = _unwrap(typing.get_args(current)[0], None), depth + 1
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or parts[depth] not in current.model_fields:
            return value
        info = current.model_fields[parts[depth]]
        if depth == len(parts) - 1:
            serializer = _serializer(info)
            return serializer.func(value) if serializer is not None else value
        current = _unwrap(info.annotation, None)
        if typing.get_origin(current) is dict:  # a dict key
            return value
        depth += 1
    return value


def _serializer(info: Any) -> PlainSerializer | None:
    """The unit serializer of a field, also when the field is optional (``Bytes | None``)."""
    metadata = list(info.metadata)
    for arg in typing.get_args(info.annotation):
        metadata += getattr(arg, "__metadata__", ())
    return next((m for m in metadata if isinstance(m, PlainSerializer)), None)


# ---------------------------------------------------------------- public loaders


#: The shipped folder (accelsim.files.SHIPPED_FOLDERS) where a spec given by name is looked up.
NAMED_IN = {"workload": "workloads", "hw": "hwconfigs"}


def load_spec(model: type[M], path: str | Path, prefix: str, overrides: "Variation | Iterable[str]" = ()) -> M:
    """A workload or hardware file (a path, or a shipped name such as ``rapid_7nm``), with the ``prefix.`` changes."""
    path = find_input(path, NAMED_IN[prefix])
    if len(Path(path).parts) == 1 and not Path(path).suffix and not Path(path).exists():
        kind = {"workload": "workload", "hw": "machine"}[prefix]
        raise _error(str(path), None, f"no such file, nor a shipped {kind} of that name; shipped: "
                                      f"{show_names(shipped_names(NAMED_IN[prefix]))}")
    data = read_yaml(path)
    if prefix == "workload":
        data = _paths_beside_file(data, Path(path))
    if prefix == "hw":
        data = _gpu_runtime_beside_file(data, Path(path))
    data, flags = as_variation(overrides).apply(model, data, prefix)
    return validate(model, data, str(path), flags)


def _paths_beside_file(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A relative ``decoding.trace`` (or hardware file of ``serving.chips``) written in a workload file is relative to
    that file (one given with --set stays relative to the working directory, like any command-line path)."""
    decoding = data.get("decoding")
    if isinstance(decoding, dict) and "trace" in decoding:
        decoding["trace"] = _beside(decoding["trace"], path)
    serving = data.get("serving")
    if isinstance(serving, dict) and isinstance(serving.get("chips"), list):
        serving["chips"] = [_beside(chip, path) for chip in serving["chips"]]
    return data


def _beside(value: Any, path: Path) -> Any:
    if isinstance(value, str) and value and not Path(value).is_absolute():
        try:
            return str((path.parent / value).resolve())
        except (OSError, ValueError):  # a NUL or a lone surrogate in the name: validation says what is wrong
            pass
    return value


def _gpu_runtime_beside_file(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """``gpu.runtime: runtime.yaml`` names the GPU-runtime file shared by GPU configs, beside the config: its fields
    take the name's place (validated on their own first, so that an error names the runtime file)."""
    gpu = data.get("gpu")
    name = gpu.get("runtime") if isinstance(gpu, dict) else None
    if not isinstance(name, str):
        return data
    try:
        runtime_path = path.parent / name
    except (TypeError, ValueError):
        raise _error(str(path), "gpu.runtime", f"expected the name of a runtime file, got {show(name)}") from None
    runtime = read_yaml(runtime_path)
    validate(GpuRuntimeSpec, runtime, str(runtime_path))
    gpu["runtime"] = runtime
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
