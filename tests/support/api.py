"""A thin test client for the central API: log in as a demo user and push/pull with plain httpx."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import httpx

from shared.ids import new_id

DEMO_PASSWORD = "Demo-2026"


class ApiUser:
    """One logged-in device: its token, client id and its own contiguous client_seq."""

    def __init__(
        self,
        base_url: str,
        username: str,
        *,
        device_id: str | None = None,
        campus_id: str | None = None,
        password: str = DEMO_PASSWORD,
        desk_slot: int | None = None,
    ) -> None:
        """``desk_slot``: log in as a triage desk that numbers tickets, wishing for that slot (the
        server's answer is ``self.desk_slot``)."""
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.device_id = device_id or f"test-{username}-{new_id()[-8:]}"
        self.client_id = new_id()
        self._seq = itertools.count(1)
        response = self.http.post(
            "/api/v1/auth/login",
            json={
                "username": username,
                "password": password,
                "device_id": self.device_id,
                "campus_id": campus_id,
                **({"desk_slot": desk_slot} if desk_slot is not None else {}),
            },
        )
        response.raise_for_status()
        body = response.json()
        self.desk_slot: int | None = body.get("desk_slot")
        self.token = body["token"]
        self.staff = body["staff"]
        self.campus_id = body["campus_id"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def envelope(self, name: str, args: dict[str, Any], *, base_version: int | None = None) -> dict[str, Any]:
        return {
            "mutation_id": new_id(),
            "client_seq": next(self._seq),
            "name": name,
            "args": args,
            "base_version": base_version,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        }

    def push(self, *envelopes: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            "/api/v1/sync/push", json={"client_id": self.client_id, "mutations": list(envelopes)}
        )

    def push_one(self, name: str, args: dict[str, Any], **kw: Any) -> dict[str, Any]:
        response = self.push(self.envelope(name, args, **kw))
        assert response.status_code in (200, 403, 422), response.text
        body = response.json()
        outcomes = body["outcomes"] if response.status_code == 200 else body["detail"]["outcomes"]
        return outcomes[0]  # type: ignore[no-any-return]

    def pull(self, cursor: int = 0, limit: int = 500, wait: float = 0) -> dict[str, Any]:
        response = self.http.get("/api/v1/sync/pull", params={"cursor": cursor, "limit": limit, "wait": wait})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def pull_all(self, cursor: int = 0) -> tuple[list[dict[str, Any]], int]:
        changes: list[dict[str, Any]] = []
        while True:
            page = self.pull(cursor, limit=2000)
            changes.extend(page["changes"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return changes, cursor

    def snapshot(self) -> list[dict[str, Any]]:
        """Every current change in this user's scope, read through the bootstrap stream (the designed
        way to read the whole state: unlike paging a pull from cursor 0, it stays valid after a retention
        run has expired every older cursor)."""
        changes: list[dict[str, Any]] = []
        with self.http.stream("GET", "/api/v1/sync/bootstrap", params={"after": 0}) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line.strip():
                    item = json.loads(line)
                    if "change" in item:
                        changes.append(item["change"])
        return changes

    def close(self) -> None:
        self.http.close()


def patient_args(**overrides: Any) -> dict[str, Any]:
    args = {
        "id": new_id(),
        "name": "测试患者",
        "sex": "F",
        "birth_date": "1980-05-01",
        "phone": "13812345678",
    }
    args.update(overrides)
    return args
