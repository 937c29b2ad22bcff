"""pandas views of one result: the headline row, one row per record, and one row per layer.

The per-layer table groups records by the ``network`` and ``layer`` their op carries (set in lowering;
ops outside any layer, such as launches, transfers of scores and the host's top-k, have network
``search`` or ``encoder`` and their role as layer), so its sums are the run's totals: ops, MACs,
fetched weight bytes, and critical-path seconds (which tile the makespan).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pandas as pd

from accelsim.errors import AccelsimError
from accelsim.hw.family import family_of
from accelsim.report.critical import critical_path
from accelsim.sim.engine import Record

#: Networks in the order reports list them; anything else after.
NETWORK_ORDER = ("encoder", "prediction", "joint", "lm_ext", "lm_src", "search")
#: Columns of :func:`layers_frame`, with their meaning (shown by ``accelsim run --by layer --help``).
LAYER_COLUMNS = {
    "network": "network the layer belongs to (search: the decode loop's own ops)",
    "layer": "layer name, or the role of an op outside any layer",
    "component": "component it is attributed to in the breakdowns",
    "ops": "ops run",
    "macs": "multiply-accumulates",
    "weight_bytes": "weight bytes fetched onto the chip (or streamed from a memory level while its ops ran)",
    "weights_from": "memory level(s) its weights came from (host, device, L3...; empty when none moved)",
    "critical_s": "seconds of the critical path charged to it",
    "critical_rtf": "the same as a share of the RTF (the column sums to the RTF)",
    "bound_by": "resource class with most of its critical-path time (coprocessor = compute, link, host, memory)",
    "weight_bits": "weight bits of its matmuls (or embedding table)",
    "act_bits": "activation bits of its matmuls",
    "mac_format": "arithmetic format its MACs ran in on this machine",
}


def _records(result: Any) -> tuple[Record, ...]:
    if not result.records:
        raise AccelsimError("no per-op records: this result is a test set or a streaming run, or was simulated with "
                            "keep_records=False "
                            "(simulate one utterance with keep_records=True)")
    return result.records


def headline_frame(result: Any) -> pd.DataFrame:
    """One row: workload, hardware, precision per network and every headline metric (see ``SimResult.row``)."""
    row: dict[str, Any] = {"workload": result.workload, "hardware": result.hardware}
    row.update({f"precision_{net}": preset for net, preset in result.presets.items()})
    row.update(result.row())
    return pd.DataFrame([row])


def ops_frame(result: Any) -> pd.DataFrame:
    """One row per record (every field of :class:`accelsim.sim.engine.Record`), plus ``critical_s``: the seconds
    of the critical path charged to it (0 off the path)."""
    records = _records(result)
    charged = {r.index: s for r, s in critical_path(records)}
    names = [f.name for f in fields(Record)]
    table = pd.DataFrame([[getattr(r, n) for n in names] for r in records], columns=names)
    table["critical_s"] = [charged.get(r.index, 0.0) for r in records]
    return table


def layers_frame(result: Any) -> pd.DataFrame:
    """One row per (network, layer); see :data:`LAYER_COLUMNS`."""
    records = _records(result)
    charged = {r.index: s for r, s in critical_path(records)}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    by_class: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        key = (r.network, r.layer)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {"network": r.network, "layer": r.layer, "component": r.component, "ops": 0, "macs": 0,
                               "weight_bytes": 0.0, "weights_from": "", "critical_s": 0.0, "weight_bits": None,
                               "act_bits": None, "mac_format": ""}
            by_class[key] = {}
        seconds = charged.get(r.index, 0.0)
        row["critical_s"] += seconds
        by_class[key][r.resource_class] = by_class[key].get(r.resource_class, 0.0) + seconds
        row["weight_bytes"] += r.weight_bytes
        if r.level:
            row["weights_from"] = "+".join(x for x in dict.fromkeys([*row["weights_from"].split("+"), *r.level.split("+")])
                                           if x)
        if r.kind == "fetch":
            continue
        row["ops"] += 1
        row["macs"] += r.macs
        if r.kind == "matmul" and row["act_bits"] is None:
            row["weight_bits"], row["act_bits"] = r.weight_bits, r.act_bits
            if result.machine is not None:
                row["mac_format"] = _mac_format(result, r)
        elif r.kind == "gather" and row["weight_bits"] is None:  # a table lookup: weights, no MACs or activations
            row["weight_bits"] = r.weight_bits
    for key, row in rows.items():
        shares = by_class[key]
        row["bound_by"] = max(shares, key=lambda c: (shares[c], c)) if row["critical_s"] > 0 else ""
        row["critical_rtf"] = row["critical_s"] / result.audio_s
    order = {n: i for i, n in enumerate(NETWORK_ORDER)}
    listed = sorted(enumerate(rows.values()), key=lambda item: (order.get(item[1]["network"], len(order)), item[0]))
    table = pd.DataFrame([row for _, row in listed], columns=list(LAYER_COLUMNS))
    for column in ("weight_bits", "act_bits"):
        table[column] = table[column].astype("Int64")
    return table


def _mac_format(result: Any, record: Record) -> str:
    """The record's MAC format, with the codebook path of its layer when the result carries the model."""
    model, device = result.model, family_of(result.machine)
    if model is not None and record.network in model.networks:
        try:
            return device.layer_format(model.networks[record.network].layer(record.layer).precision)
        except KeyError:
            pass
    return device.format_of(record.weight_bits, record.act_bits)


def to_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as plain Python values (exact floats, ints, None for missing), ready for strict JSON."""
    def plain(value: Any) -> Any:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return None
        return value.item() if hasattr(value, "item") else value

    return [{k: plain(v) for k, v in row.items()} for row in table.astype(object).to_dict(orient="records")]
