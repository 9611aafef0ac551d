"""``GET /api/v1/hub/verifiers`` on SQLite and PostgreSQL (both migrated to ``0024_hubverifiers``): a
login at the central API records its time, and the hub of that campus gets the account's verifier."""

from __future__ import annotations

import httpx

from tests.support.api import ApiUser
from tests.support.hub import enrol_hub
from tests.support.server import ServerProcess


def test_a_login_at_the_central_api_puts_the_account_in_its_campus_hubs_verifiers(
    any_server: ServerProcess,
) -> None:
    hub = enrol_hub(any_server, "MAIN")
    other = enrol_hub(any_server, "EAST", name="east hub")
    admin = ApiUser(any_server.url, "admin")  # MAIN, and assigned to EAST too

    def names(credential: str) -> set[str]:
        answer = httpx.get(
            f"{any_server.url}/api/v1/hub/verifiers",
            params={"days": 14},
            headers={"Authorization": f"Bearer {credential}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return {v["username"] for v in answer.json()["verifiers"]}

    assert "admin" in names(hub) and "admin" in names(other)
    ApiUser(any_server.url, "security")  # MAIN only
    assert "security" in names(hub) and "security" not in names(other)
    assert admin.http.get("/api/v1/hub/verifiers").status_code == 403
