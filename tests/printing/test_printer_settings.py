"""Printer settings saved per user where IT allows it (``shared.printing.settings``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from shared.printing.settings import dumps_toml, save_user_printers
from shared.site import PrinterSetting, load_site_config


def test_user_printers_are_written_as_toml_the_site_loader_accepts(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        'server_url = "http://10.0.0.5:8750"\nuser_may_override = ["language", "printers"]\n',
        encoding="utf-8",
    )
    user = tmp_path / "user.toml"
    user.write_text('language = "en"\n', encoding="utf-8")
    save_user_printers(
        {
            "receipt": PrinterSetting(target="tcp:192.168.1.50:9100", paper="80mm", encoding="raster"),
            "drug_label": PrinterSetting(target='file:C:\\Labels "A"', copies=2),
        },
        user,
    )
    config = load_site_config(site, user_path=user)
    assert config.language == "en"
    assert (
        config.printer("receipt").target == "tcp:192.168.1.50:9100"
        and config.printer("receipt").encoding == "raster"
    )
    assert (
        config.printer("drug_label").target == 'file:C:\\Labels "A"'
        and config.printer("drug_label").copies == 2
    )
    assert tomllib.loads(dumps_toml({"a": {"b": {"c": 1}}, "x": "中文"})) == {
        "a": {"b": {"c": 1}},
        "x": "中文",
    }
