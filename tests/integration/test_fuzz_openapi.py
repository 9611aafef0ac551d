"""Bounded schemathesis fuzzing of the OpenAPI schema against a real server: no input may cause a 500."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.support.api import ApiUser
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def api_schema(shared_server: ServerProcess):  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{shared_server.url}/openapi.json")
    # Logging out would revoke the token the other cases use; it is covered by its own test.
    return schema.exclude(path="/api/v1/auth/logout")


@pytest.fixture(scope="module")
def token(shared_server: ServerProcess) -> str:
    return ApiUser(shared_server.url, "admin").token


fuzz = schemathesis.pytest.from_fixture("api_schema")


@fuzz.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case, shared_server: ServerProcess, token: str) -> None:  # type: ignore[no-untyped-def]
    response = case.call(base_url=shared_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
