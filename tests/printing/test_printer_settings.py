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


def test_the_demo_site_prints_every_kind_to_its_own_folder_and_the_loader_accepts_it(tmp_path: Path) -> None:
    from shared.printing.kinds import KINDS
    from shared.printing.settings import may_edit, write_demo_site

    site = write_demo_site(tmp_path / "demo-site.toml", "http://127.0.0.1:8750", tmp_path / "var" / "prints")
    config = load_site_config(site, user_path=tmp_path / "none.toml")
    assert may_edit(config)
    for key in KINDS:
        assert config.printer(key).target == f"file:{tmp_path / 'var' / 'prints' / key}"  # type: ignore[arg-type]
    site.write_text('server_url = "http://127.0.0.1:9"\n', encoding="utf-8")
    write_demo_site(site, "http://127.0.0.1:8750", tmp_path)  # an existing file is kept
    assert "9" in site.read_text(encoding="utf-8")


def test_the_run_script_gives_the_demo_apps_the_demo_site() -> None:
    script = (Path(__file__).resolve().parents[2] / "run").read_text(encoding="utf-8")
    assert "write_demo_site" in script and "$ROOT/var/prints" in script and "CLINIC_SITE_CONFIG" in script


def test_the_generic_test_pages_read_back_on_their_paper() -> None:
    import io

    from pypdf import PdfReader

    from shared.printing.escpos_decode import decode
    from shared.printing.settings import test_page

    content, data = test_page("ticket", PrinterSetting(paper="58mm"), "排队小票")
    slip = decode(data)
    assert content == "escpos" and "金额：￥25.60" in slip.lines and slip.qr_payloads == ["clinic:test"]
    content, data = test_page("waybill", PrinterSetting(paper="76x130mm"), "快递面单")
    page = PdfReader(io.BytesIO(data)).pages[0]
    assert content == "pdf" and round(float(page.mediabox.width) / 72 * 25.4) == 76
    assert "打印机测试页" in page.extract_text() and "快递面单" in page.extract_text()
