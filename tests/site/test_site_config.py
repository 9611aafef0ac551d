"""The site configuration IT deploys: the example file, every kind of mistake named in plain words,
per-user overrides only where IT allows, and ``clinic config check`` on the command line."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.site import SiteConfig, SiteConfigError, check_site_config, load_site_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "packaging" / "site.example.toml"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pem_certificate(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Hospital CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def problems(path: Path, user: Path | None = None, lang: str = "en") -> list[str]:
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(path, user_path=user or path.with_name("no-user.toml"), lang=lang)
    return caught.value.problems


def test_no_file_gives_the_demo_defaults(tmp_path: Path) -> None:
    config = load_site_config(tmp_path / "absent.toml", user_path=tmp_path / "absent-user.toml")
    assert config == SiteConfig()
    assert config.server_url == "http://127.0.0.1:8750" and config.printer("receipt").target == "none"


def test_the_example_file_is_valid_once_its_ca_certificate_exists(tmp_path: Path) -> None:
    config = load_site_config(EXAMPLE, user_path=tmp_path / "user.toml")
    assert config.printer("ticket").target == "tcp:192.168.10.21:9100"
    assert config.voice.engine == "pack" and config.display.screen_name == "HDMI-1"
    assert config.update_mirror == "https://updates.example-hospital.cn/clinic"
    assert check_site_config(config, lang="en") == [
        "ca_certificate: the CA certificate file does not exist: C:/ProgramData/ClinicSuite/hospital-ca.pem",
        # The example is written for Windows; on this Linux PC that is not an absolute path.
        "data_folder: not an absolute path on this PC: C:/ProgramData/ClinicSuite/data",
    ]
    ca = pem_certificate(tmp_path / "ca.pem")
    here = {"ca_certificate": str(ca), "data_folder": str(tmp_path / "data")}
    assert check_site_config(config.model_copy(update=here), lang="en") == []


def test_a_data_folder_that_cannot_be_made_is_reported(tmp_path: Path) -> None:
    blocker = write(tmp_path / "data", "a file where the folder should be")
    config = SiteConfig(data_folder=str(blocker / "clinic"))
    assert check_site_config(config, lang="en") == [
        f"data_folder: this user cannot write to the folder: {blocker / 'clinic'}"
    ]


def test_every_structural_mistake_is_listed_with_where_it_is(tmp_path: Path) -> None:
    site = write(
        tmp_path / "site.toml",
        """
server_url = "clinic-api:8750"
update_mirror = "ftp://updates.example.cn"
queue_desk_slot = "3"
idle_lock_minutes = 0.5
language = "fr"
colour = "blue"
[display]
scren_name = "HDMI-1"
[printers.recipt]
target = "none"
[printers.receipt]
copies = true
""",
    )
    found = problems(site)
    assert found == [
        "server_url: not a valid http(s) URL: clinic-api:8750",
        "queue_desk_slot: should be a whole number, not '3'",
        "printers.recipt: should be one of 'ticket', 'prescription', 'visit_note', 'pick_list', 'drug_label', "
        "'receipt', 'waybill' or 'report', not 'recipt'",
        "printers.receipt.copies: should be a whole number, not True",
        "display.scren_name: unknown setting (did you mean display.screen_name?)",
        "update_mirror: not a valid http(s) URL: ftp://updates.example.cn",
        "idle_lock_minutes: must be at least 1.0 (is 0.5)",
        "language: should be one of 'zh-CN', 'zh-TW' or 'en', not 'fr'",
        "colour: unknown setting",
    ]


def test_problems_are_told_in_chinese_by_default(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", 'server_url = "clinic-api"\nidle_lock_minutes = "ten"\nbogus = 1\n')
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(site, user_path=tmp_path / "none.toml")
    assert caught.value.problems == [
        "server_url: 不是有效的 http(s) 地址：clinic-api",
        "idle_lock_minutes: 应为数字，而不是 'ten'",
        "bogus: 未知的配置项",
    ]
    assert caught.value.message.startswith("配置有 3 处问题")


def test_a_misspelt_key_is_told_which_setting_it_probably_meant(tmp_path: Path) -> None:
    site = write(
        tmp_path / "site.toml",
        'update_mirorr = "https://u"\n[printers.receipt]\ntargt = "none"\n[display]\nscren_name = "x"\n',
    )
    assert problems(site) == [
        "printers.receipt.targt: unknown setting (did you mean printers.receipt.target?)",
        "display.scren_name: unknown setting (did you mean display.screen_name?)",
        "update_mirorr: unknown setting (did you mean update_mirror?)",
    ]
    assert problems(site, lang="zh_CN")[-1] == "update_mirorr: 未知的配置项（是否应为 update_mirror？）"


def test_broken_toml_says_so(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", 'server_url = "http://x\n')
    assert problems(site)[0].startswith("not valid TOML")


def test_printer_targets_ca_files_and_voice_packs_are_checked_on_the_pc(tmp_path: Path) -> None:
    not_pem = write(tmp_path / "ca.crt", "this is not a certificate")
    site = write(
        tmp_path / "site.toml",
        f"""
ca_certificate = "{not_pem.as_posix()}"
[printers.receipt]
target = "lpt:1"
[printers.ticket]
target = "tcp:10.1.2.3:9100"
[printers.prescription]
target = "file:{tmp_path.as_posix()}/prints"
[voice]
pack = "{(tmp_path / "no-such-pack").as_posix()}"
""",
    )
    config = load_site_config(site, user_path=tmp_path / "none.toml")
    assert check_site_config(config, lang="en") == [
        "printers.receipt.target: unknown printer target lpt:1 (use one of: file:, usb:, tcp:, serial:, cups:, "
        "win:, none)",
        f"ca_certificate: the CA certificate file is not a PEM certificate: {not_pem}",
        f"voice.pack: voice pack {(tmp_path / 'no-such-pack').as_posix()} not found (a folder or a built-in pack name)",
    ]
    builtin = config.model_copy(update={"voice": config.voice.model_copy(update={"pack": "zh_CN_espeak"})})
    assert not any(p.startswith("voice.pack") for p in check_site_config(builtin))


def test_users_override_only_what_it_allows(tmp_path: Path) -> None:
    site = write(
        tmp_path / "site.toml",
        """
server_url = "https://api.example.cn"
user_may_override = ["language", "display.theme", "printers"]
[printers.receipt]
target = "usb:0416:5011"
""",
    )
    user = write(
        tmp_path / "user.toml",
        'language = "en"\n[display]\ntheme = "light"\n[printers.drug_label]\ntarget = "file:/tmp/labels"\n',
    )
    config = load_site_config(site, user_path=user)
    assert config.language == "en" and config.display.theme == "light"
    assert config.printer("drug_label").target == "file:/tmp/labels"
    assert config.printer("receipt").target == "usb:0416:5011"  # the site's other printers stay

    sneaky = write(
        tmp_path / "sneaky.toml", 'server_url = "http://evil.example"\n[display]\nfull_screen = false\n'
    )
    assert problems(site, sneaky) == [
        "server_url: IT does not allow a per-user value here",
        "display.full_screen: IT does not allow a per-user value here",
    ]
    widen = write(tmp_path / "widen.toml", 'user_may_override = ["server_url"]\n')
    assert problems(site, widen) == ["user_may_override: IT does not allow a per-user value here"]


def test_it_cannot_list_unknown_or_self_widening_overrides(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", 'user_may_override = ["language", "display.colour"]\n')
    assert problems(site) == [
        "user_may_override: display.colour in user_may_override is not a setting that can be overridden"
    ]
    site = write(tmp_path / "site.toml", 'user_may_override = ["user_may_override"]\n')
    assert len(problems(site)) == 1


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "config", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def test_clinic_config_check_on_the_command_line(tmp_path: Path) -> None:
    ca = pem_certificate(tmp_path / "ca.pem")
    good = write(
        tmp_path / "good.toml", f'server_url = "https://api.example.cn"\nca_certificate = "{ca.as_posix()}"\n'
    )
    bad = write(tmp_path / "bad.toml", 'server_url = "api"\n[printers.receipt]\ntarget = "lpt:1"\nwho = 1\n')
    env = {"CLINIC_USER_CONFIG": str(tmp_path / "user.toml")}

    ok = run_check("--file", str(good), "--lang", "en", env=env)
    assert ok.returncode == 0 and f"The configuration is valid: {good}" in ok.stdout

    failed = run_check("--file", str(bad), "--lang", "en", env=env)
    assert failed.returncode == 1
    assert "2 problem(s)" in failed.stdout
    assert "  - server_url: not a valid http(s) URL: api" in failed.stdout
    assert "  - printers.receipt.who: unknown setting" in failed.stdout

    semantic = run_check(
        "--file", str(write(tmp_path / "p.toml", '[printers.receipt]\ntarget = "lpt:1"\n')), env=env
    )
    assert semantic.returncode == 1 and "未知的打印机类型 lpt:1" in semantic.stdout

    missing = run_check("--file", str(tmp_path / "absent.toml"), "--lang", "en", env=env)
    assert missing.returncode == 2 and "No configuration file" in missing.stdout


def test_english_lines_on_the_display_are_a_site_setting_off_by_default(tmp_path: Path) -> None:
    assert SiteConfig().display.english is False
    site = write(tmp_path / "site.toml", '[display]\nenglish = true\ntheme = "light"\n')
    assert load_site_config(site, user_path=tmp_path / "user.toml").display.english is True
    wrong = write(tmp_path / "wrong.toml", '[display]\nenglish = "yes"\n')
    assert problems(wrong) == ["display.english: should be true or false, not 'yes'"]
    # IT may let a user switch it (a per-user override names it like any other display setting)
    allowed = write(tmp_path / "allowed.toml", 'user_may_override = ["display.english"]\n')
    user = write(tmp_path / "mine.toml", "[display]\nenglish = true\n")
    assert load_site_config(allowed, user_path=user).display.english is True


def test_server_url_may_be_a_list_with_the_clinic_hub_first() -> None:
    from shared.site import SiteConfig, SiteConfigError, parse_site_config

    config = SiteConfig.model_validate(
        {"server_url": ["https://hub.clinic.lan:8750/", "https://api.hospital.cn:8750"]}
    )
    assert config.server_urls == ["https://hub.clinic.lan:8750", "https://api.hospital.cn:8750"]
    assert SiteConfig().server_urls == ["http://127.0.0.1:8750"]
    with pytest.raises(SiteConfigError) as bad:
        parse_site_config({"server_url": ["https://hub.clinic.lan:8750", "ftp://x"]}, Path("site.toml"))
    assert any("server_url" in p and "ftp://x" in p for p in bad.value.problems)
    with pytest.raises(SiteConfigError) as empty:
        parse_site_config({"server_url": []}, Path("site.toml"), lang="en")
    assert any("the clinic hub first" in p for p in empty.value.problems)
    with pytest.raises(SiteConfigError) as twice:
        parse_site_config({"server_url": ["http://a:1", "http://a:1"]}, Path("site.toml"), lang="en")
    assert any("listed twice" in p for p in twice.value.problems)
