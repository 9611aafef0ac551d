"""The administration endpoints the window calls (import, audit log, PCs, clinic hubs), as plain blocking functions over
the runtime's transport. Screens run them with ``calls.call`` (a background thread) so the GUI never waits on the
network; errors are the suite's (``raise_for_answer``) and carry the server's translated message."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.sync.transport import ApiTransport

# An import plans 50,000 rows on the server: give it time.
IMPORT_TIMEOUT = 300.0


@dataclass(frozen=True)
class AuditQuery:
    username: str = ""
    action: str = ""
    target: str = ""
    device_id: str = ""
    hub_id: str = ""
    since: str = ""  # ISO 8601, local time with its offset
    until: str = ""

    def params(self) -> dict[str, str]:
        return {name: value for name, value in asdict(self).items() if value}


class AdminClient:
    def __init__(self, transport: ApiTransport) -> None:
        self.transport = transport

    def run_import(
        self,
        kind: str,
        path: Path,
        *,
        mapping: Path | None,
        dry_run: bool,
        retire_missing: bool,
        show: int = 2000,
        effective_from: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The server's plan for ``path`` (and, unless ``dry_run``, its application); ``effective_from``:
        the moment an ``rx_rules`` table applies from (None: now)."""
        body = {
            "filename": path.name,
            # gzip: a 50,000-row CSV is ~10 MB, over the server's body limit, and compresses ~5 times
            "content": base64.b64encode(gzip.compress(path.read_bytes(), compresslevel=6)).decode("ascii"),
            "gzip": True,
            "mapping": mapping.read_text(encoding="utf-8") if mapping else None,
            "dry_run": dry_run,
            "retire_missing": retire_missing,
            "show": show,
            "effective_from": effective_from.isoformat() if effective_from else None,
        }
        answer = self.transport.call("POST", f"/admin/import/{kind}", json=body, timeout=IMPORT_TIMEOUT)
        return answer.json()  # type: ignore[no-any-return]

    def audit_page(self, query: AuditQuery, *, before: int | None = None, limit: int = 200) -> dict[str, Any]:
        params: dict[str, Any] = {**query.params(), "limit": limit}
        if before is not None:
            params["before"] = before
        return self.transport.call("GET", "/admin/audit/entries", params=params).json()  # type: ignore[no-any-return]

    def export_audit(self, query: AuditQuery, target: Path) -> Path:
        """The matching entries as CSV into ``target``, streamed (a year's log never sits in memory)."""
        return self.transport.download("/admin/audit/export.csv", target, params=query.params())

    def clients(self) -> list[dict[str, Any]]:
        return self.transport.call("GET", "/admin/clients").json()  # type: ignore[no-any-return]

    def hubs(self) -> list[dict[str, Any]]:
        return self.transport.call("GET", "/admin/hubs").json()  # type: ignore[no-any-return]

    def enrol_hub(self, name: str, campus: str) -> dict[str, Any]:
        """The new hub with its ``credential`` (the server shows it this once)."""
        body = {"name": name, "campus": campus}
        return self.transport.call("POST", "/admin/hubs", json=body).json()  # type: ignore[no-any-return]

    def revoke_hub(self, hub_id: str) -> dict[str, Any]:
        return self.transport.call("POST", f"/admin/hubs/{hub_id}/revoke").json()  # type: ignore[no-any-return]
