"""Where the local database lives: setting, environment variable, then the user data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.store.paths import DATA_DIR_ENV, default_db_path


def test_an_explicit_setting_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert (
        default_db_path("workstation", setting=tmp_path / "setting")
        == tmp_path / "setting" / "workstation.db"
    )


def test_the_environment_variable_overrides_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_db_path("triage_desk") == tmp_path / "triage_desk.db"


def test_without_overrides_each_app_gets_its_own_file_in_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    path = default_db_path("pharmacy_desk")
    assert path.name == "pharmacy_desk.db"
    assert "ClinicSuite" in path.parts


def test_an_app_name_that_could_escape_the_folder_is_refused() -> None:
    with pytest.raises(ValueError):
        default_db_path("../evil")
