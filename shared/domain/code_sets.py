"""ICD-10 code sets (versions) side by side, and the one a site chooses for its doctors.

A diagnosis belongs to one code set (``Diagnosis.code_set``, e.g. 国家临床版2.0, 医保版2.0); a code is
unique within its set. The site's choice is the one ``SiteSettings`` row (``SITE_SETTINGS_ID``), changed
by ``reference.choose_code_set`` and synced to every PC; the doctors' diagnosis search offers only that
set. A visit note or prescription keeps each diagnosis' code, name and set as written, so it reads and
prints the same after the site switches sets or the code is retired. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from shared.domain.entities import DEFAULT_CODE_SET, Diagnosis, SiteSettings
from shared.ids import reference_id

SITE_SETTINGS_ID = reference_id("site_settings", "site")


def diagnosis_id(code_set: str, code: str) -> str:
    """A diagnosis' stable id from its set and code. Rows of the default set keep the id they had before
    code sets existed (``reference_id("diagnosis", code)``), so old databases and the demo agree."""
    key = code if code_set == DEFAULT_CODE_SET else f"{code_set}:{code}"
    return reference_id("diagnosis", key)


def chosen_code_set(settings: SiteSettings | None) -> str | None:
    """The site's chosen set, or None when no choice was ever made (then every set is offered)."""
    return settings.diagnosis_code_set if settings is not None and not settings.voided else None


def offered(diagnosis: Diagnosis, chosen: str | None) -> bool:
    """Whether the doctors' search offers ``diagnosis``: live and in the chosen set (any set if none)."""
    return not diagnosis.voided and (chosen is None or diagnosis.code_set == chosen)


def live_counts(diagnoses: Iterable[Diagnosis]) -> dict[str, int]:
    """Live rows per code set, by set name."""
    return dict(sorted(Counter(d.code_set for d in diagnoses if not d.voided).items()))
