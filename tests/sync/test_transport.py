"""The transport maps every server answer and network failure to the suite's error kinds."""

from __future__ import annotations

import pytest

from shared.errors import AuthFailed, TransientError
from shared.sync import ApiTransport, CursorReset
from tests.support.api import DEMO_PASSWORD
from tests.support.server import ServerProcess, free_port


def test_a_server_that_is_not_there_is_a_transient_error() -> None:
    transport = ApiTransport(f"http://127.0.0.1:{free_port()}", timeout=1.0)
    with pytest.raises(TransientError) as caught:
        transport.health()
    assert caught.value.code == "network"


def test_a_wrong_password_is_auth_failed_with_the_servers_message(shared_server: ServerProcess) -> None:
    transport = ApiTransport(shared_server.url)
    with pytest.raises(AuthFailed) as caught:
        transport.login(username="nurse3", password="wrong", device_id="pc-x")
    assert caught.value.code == "login_failed" and caught.value.message


def test_no_token_is_auth_failed_with_code_token_missing(shared_server: ServerProcess) -> None:
    with pytest.raises(AuthFailed) as caught:
        ApiTransport(shared_server.url).pull(0)
    assert caught.value.code == "token_missing"


def test_a_cursor_beyond_the_server_head_is_a_cursor_reset(shared_server: ServerProcess) -> None:
    transport = ApiTransport(shared_server.url)
    answer = transport.login(username="nurse3", password=DEMO_PASSWORD, device_id="pc-x")
    transport.set_token(answer.token)
    with pytest.raises(CursorReset) as caught:
        transport.pull(10**12)
    assert caught.value.code == "cursor_ahead"


def test_the_bootstrap_stream_yields_header_items_checkpoints_and_end(shared_server: ServerProcess) -> None:
    import json

    transport = ApiTransport(shared_server.url)
    transport.set_token(transport.login(username="nurse3", password=DEMO_PASSWORD, device_id="pc-x").token)
    with transport.bootstrap(0) as lines:
        kinds = [json.loads(line)["type"] for line in lines if line]
    assert kinds[0] == "header" and kinds[-1] == "end" and "checkpoint" in kinds
