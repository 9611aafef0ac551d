"""The prescription being written, as the doctor sees it: split into prescriptions, each checked (pure).

The editor keeps one list of lines and a base type. ``plan_prescriptions`` splits them
(``prescribing.split_lines``: type by controlled class, at most five drugs each), builds one
``PrescriptionDraft`` per group and runs the shared checks on each. Findings and acknowledgements are
keyed here by the line's place in the editor (``global_index``), so an acknowledgement survives a
re-split; ``acknowledgements_for`` turns them back into each prescription's own line numbers, which is
what ``rx.create`` and the pharmacy's review see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.domain.prescribing import (
    DiagnosisFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    RxGroup,
    RxLine,
    split_lines,
)
from shared.domain.rx_checks import Acknowledgement, Finding, check_prescription
from shared.domain.rx_rules import RuleTable, RxType, default_rules

AckKey = tuple[str, int | None]  # (finding code, global line index or None for the whole group)


@dataclass(frozen=True)
class PlacedFinding:
    """A finding of one planned prescription with the line's index in the editor."""

    finding: Finding
    group: int
    global_index: int | None

    @property
    def key(self) -> AckKey:
        return (self.finding.code, self.global_index if self.global_index is not None else -1 - self.group)

    @property
    def blocking(self) -> bool:
        return self.finding.level == "block"


@dataclass(frozen=True)
class PlannedRx:
    group: RxGroup
    draft: PrescriptionDraft
    findings: list[PlacedFinding]


@dataclass(frozen=True)
class Plan:
    prescriptions: list[PlannedRx]

    @property
    def findings(self) -> list[PlacedFinding]:
        return [f for rx in self.prescriptions for f in rx.findings]

    def blocking(self) -> list[PlacedFinding]:
        return [f for f in self.findings if f.blocking]

    def open_warnings(self, acknowledged: Iterable[AckKey]) -> list[PlacedFinding]:
        done = set(acknowledged)
        return [f for f in self.findings if not f.blocking and f.key not in done]

    def signable(self, acknowledged: Iterable[AckKey]) -> bool:
        return bool(self.prescriptions) and not self.blocking() and not self.open_warnings(acknowledged)


def plan_prescriptions(
    lines: Sequence[RxLine],
    rx_type: RxType,
    *,
    patient: PatientFacts,
    prescriber: PrescriberFacts,
    visit_id: str | None,
    diagnoses: Sequence[DiagnosisFacts],
    written_at: dt.datetime,
    department: str = "",
    rules: RuleTable | None = None,
    lang: str = "zh_CN",
    ids: Sequence[str] = (),
) -> Plan:
    """Split ``lines`` and check each prescription; ``ids`` name the drafts in order (else placeholders)."""
    table = rules or default_rules()
    planned: list[PlannedRx] = []
    for number, group in enumerate(split_lines(lines, rx_type, table)):
        draft = PrescriptionDraft(
            id=ids[number] if number < len(ids) else f"draft-{number}",
            rx_type=group.rx_type,
            patient=patient,
            prescriber=prescriber,
            visit_id=visit_id,
            department=department,
            diagnoses=tuple(diagnoses),
            written_at=written_at,
            lines=group.lines,
        )
        findings = [
            PlacedFinding(f, number, group.indexes[f.line_index] if f.line_index is not None else None)
            for f in check_prescription(draft, table, lang=lang)
        ]
        planned.append(PlannedRx(group, draft, findings))
    return Plan(planned)


def acknowledgements_for(
    rx: PlannedRx, acknowledged: Iterable[AckKey], staff_id: str, at: dt.datetime
) -> list[Acknowledgement]:
    """The prescription's acknowledgements (its own line numbers) for the warnings the doctor ticked."""
    done = set(acknowledged)
    return [
        Acknowledgement(code=f.finding.code, line_index=f.finding.line_index, staff_id=staff_id, at=at)
        for f in rx.findings
        if not f.blocking and f.key in done
    ]
