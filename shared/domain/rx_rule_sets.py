"""Dated versions of the prescription rule table: a change applies from a moment on, and a prescription is
checked (and printed) by the rules in effect when it was written.

``RxRuleSet`` rows each hold a whole ``RuleTable`` and the moment it applies from. ``rules_at(versions,
moment)`` is the one rule the server (``rx.create`` / ``rx.amend``) and every PC (the doctor's checks, the
pharmacist's review, the printed band and label) apply, so both agree by construction; with no version at
all (a database from before dated rules) it is the shipped table (``rx_rules.default_rules``). Pure: no
clock, no I/O beyond that cached shipped file."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from shared.domain.entities import RxRuleSet
from shared.domain.prices import BEFORE_ANY_CHANGE
from shared.domain.rx_rules import RX_TYPES, RuleTable, RxType, default_rules
from shared.ids import reference_id

# The shipped table as the demo seed writes it: the first version, in effect since before any change.
SHIPPED_VERSION_ID = reference_id("rx_rule_set", "shipped")


class RuleSetReader(Protocol):
    def find(self, kind: type[RxRuleSet], **equals: Any) -> list[RxRuleSet]: ...


def table_json(table: RuleTable) -> dict[str, Any]:
    """The table as JSON-ready data in a stable form (sets sorted), as stored in ``RxRuleSet.rules``."""
    data = table.model_dump(mode="json")
    data["types"] = {t: data["types"][t] for t in RX_TYPES if t in data["types"]}
    data["systemic_routes"] = sorted(data["systemic_routes"])
    return data


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> RuleTable:
    return RuleTable.model_validate_json(text)


def parse_rules(data: Mapping[str, Any]) -> RuleTable:
    """``data`` as a validated table (``pydantic.ValidationError`` if it is not one); parsed once per
    distinct content."""
    return _parsed(_canonical(data))


def rule_problems(data: object) -> str | None:
    """Why ``data`` is not a valid rule table, naming each field (``types.ordinary.max_days: …``), or None."""
    if not isinstance(data, Mapping):
        return "the rule table must be a JSON object"
    try:
        parse_rules(data)
    except ValidationError as error:
        return validation_reason(error)
    except ValueError as error:  # not JSON-encodable content
        return str(error)
    return None


def validation_reason(error: ValidationError) -> str:
    """A table's validation errors as people read them, each naming its field."""
    parts = []
    for problem in error.errors()[:5]:
        where = ".".join(str(p) for p in problem["loc"] if p != "[key]") or "table"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def _order(version: RxRuleSet) -> tuple[dt.datetime, dt.datetime, int, str]:
    return (version.effective_from, version.set_at or BEFORE_ANY_CHANGE, version.version, version.id)


def ordered(versions: Iterable[RxRuleSet]) -> list[RxRuleSet]:
    """Live versions by the moment they apply from; of two with the same moment, the later set wins."""
    return sorted((v for v in versions if not v.voided), key=_order)


def in_effect(versions: Iterable[RxRuleSet], moment: dt.datetime) -> RxRuleSet | None:
    """The version in effect at ``moment``: the latest dated at or before it, else None."""
    found = None
    for version in ordered(versions):
        if version.effective_from <= moment:
            found = version
    return found


def rules_at(
    versions: Iterable[RxRuleSet], moment: dt.datetime, fallback: RuleTable | None = None
) -> RuleTable:
    """The rule table in effect at ``moment``; without a version dated by then, ``fallback`` (default:
    the shipped table)."""
    version = in_effect(versions, moment)
    if version is None:
        return fallback or default_rules()
    return parse_rules(version.rules)


def rules_for(reader: RuleSetReader, moment: dt.datetime) -> RuleTable:
    """``rules_at`` over the versions a state reader (server state, a PC's local view) holds."""
    return rules_at(reader.find(RxRuleSet), moment)


def scheduled(versions: Iterable[RxRuleSet], after: dt.datetime) -> list[RxRuleSet]:
    """Versions still to come after ``after``."""
    return [v for v in ordered(versions) if v.effective_from > after]


def new_version(
    versions: Iterable[RxRuleSet],
    table: RuleTable,
    effective_from: dt.datetime,
    *,
    version_id: str,
    set_by: str | None,
    now: dt.datetime,
    note: str = "",
) -> tuple[RxRuleSet | None, list[str]]:
    """The version that makes ``table`` apply from ``effective_from`` on, with what it changes against
    the rules in effect at that moment; ``(None, [])`` when it changes nothing (so the same file imported
    twice, or the same edit saved twice, adds nothing). The caller checks the moment is not past."""
    changes = rule_diff(rules_at(versions, effective_from), table)
    if not changes:
        return None, []
    row = RxRuleSet(
        id=version_id,
        effective_from=effective_from,
        rules=table_json(table),
        set_by=set_by,
        set_at=now,
        note=note,
        updated_at=now,
    )
    return row, changes


@dataclass(frozen=True)
class VersionRow:
    """One version as the administrator sees it: past (superseded), current or future (scheduled)."""

    version: RxRuleSet
    state: str
    changes: tuple[str, ...]  # against the version before it (the shipped table for the first)

    @property
    def since_always(self) -> bool:
        return self.version.effective_from <= BEFORE_ANY_CHANGE


def history(versions: Iterable[RxRuleSet], now: dt.datetime) -> list[VersionRow]:
    """Every live version oldest first, each marked and with what it changed."""
    live = ordered(versions)
    current = in_effect(live, now)
    out = []
    before = default_rules()
    for version in live:
        table = parse_rules(version.rules)
        state = "future" if version.effective_from > now else "current" if version is current else "past"
        out.append(VersionRow(version, state, tuple(rule_diff(before, table))))
        before = table
    return out


# --------------------------------------------------------------------------------------------- diffs


def _flat(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value):
            _flat(value[key], f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for index, item in enumerate(value):
            _flat(item, f"{path}[{index}]", out)
    else:
        out[path] = value


def _flat_table(table: RuleTable) -> dict[str, Any]:
    data = table_json(table)
    # the prescription types read best by their own names: "ordinary.max_days", not "types.ordinary…"
    types = data.pop("types")
    out: dict[str, Any] = {}
    _flat(types, "", out)
    _flat(data, "", out)
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rule_diff(before: RuleTable, after: RuleTable) -> list[str]:
    """What changes from ``before`` to ``after``, one line per field: ``ordinary.max_days 7 → 5``."""
    old, new = _flat_table(before), _flat_table(after)
    keys = [*old, *(k for k in new if k not in old)]
    return [f"{k} {_shown(old.get(k))} → {_shown(new.get(k))}" for k in keys if old.get(k) != new.get(k)]


def with_limits(
    table: RuleTable,
    *,
    max_drugs_per_rx: int | None = None,
    days: Mapping[RxType, tuple[int, int]] | None = None,
    controlled_days: Sequence[int] | None = None,
) -> RuleTable:
    """``table`` with the common limits changed (what the administration window edits): the drugs per
    prescription, per type ``(max_days, default_days)``, and each controlled-days rule's ``max_days``
    in order. Raises ``pydantic.ValidationError`` for a table that is then invalid."""
    data = table_json(table)
    if max_drugs_per_rx is not None:
        data["max_drugs_per_rx"] = max_drugs_per_rx
    for rx_type, (max_days, default_days) in (days or {}).items():
        data["types"][rx_type]["max_days"] = max_days
        data["types"][rx_type]["default_days"] = default_days
    for index, max_days in enumerate(controlled_days or ()):
        data["controlled_days"][index]["max_days"] = max_days
    return parse_rules(data)
