"""Prescriptions (A5) and visit notes (A4) as real PDFs: read back with pypdf and rasterised with pdftoppm.

The PNGs of an ordinary, an emergency and a narcotic prescription and of a visit note are kept in
docs/screenshots/ for people to look at; the inputs are fixed so the pictures only change with the code.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image
from pypdf import PdfReader

from shared import clinic_time
from shared.domain.prescribing import DiagnosisFacts, PrescriptionDraft, edit_line
from shared.printing.pdf_fonts import cjk_pdf_font
from shared.printing.prescription import PrescriptionPrint, render_prescription
from shared.printing.visit_note import NoteSection, VisitNotePrint, render_visit_note
from shared.security.signing import fingerprint
from tests.shared.domain.rx_fixtures import draft, line, patient, prescriber

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PRINTED_AT = dt.datetime(2026, 11, 22, 9, 17)
WATERMARK = "李明华  2026-11-22 09:17"
A5_POINTS = (419.5, 595.3)
A4_POINTS = (595.3, 841.9)
BANDS = {"emergency": (0xFF, 0xF4, 0xB8), "narcotic": (0xFB, 0xD9, 0xD9)}
NARCOTIC_RIGHTS = ("ordinary", "narcotic", "psychotropic1")

needs_pdftoppm = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")


def fixed_fingerprint() -> str:
    public = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    return fingerprint(base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode())


def prescription(kind: str) -> PrescriptionDraft:
    if kind == "narcotic":
        return draft(
            line("盐酸吗啡片", days=3),
            line("芬太尼透皮贴剂", days=3),
            rx_type="narcotic",
            doctor=prescriber(*NARCOTIC_RIGHTS),
            pat=patient(allergies=("青霉素",), name="张秀英"),
            number="RX2611220003",
        )
    if kind == "emergency":
        return draft(
            edit_line(line("阿莫西林胶囊", days=3), skin_test_result="negative"),
            line("布洛芬缓释胶囊", days=3),
            rx_type="emergency",
            pat=patient(age=29, name="王小燕"),
            number="RX2611220002",
        )
    return draft(
        line("头孢克洛胶囊", days=5),
        line("布洛芬缓释胶囊", days=3),
        line("盐酸氨溴索片", days=5),
        line("阿莫西林胶囊", days=7, note="饭后服用"),
        line("蒙脱石散", days=3),
        pat=patient(allergies=("磺胺类",), weight=Decimal("56.5")),
        number="RX2611220001",
    )


def render(kind: str, *, reprint: bool = False, signed: bool = True, cid: bool = False) -> bytes:
    doc = PrescriptionPrint(
        hospital_name="兰州市第一人民医院",
        draft=prescription(kind),
        fee_category="医保",
        patient_id_number="620102199001011234" if kind == "narcotic" else "",
        signature_fingerprint=fixed_fingerprint() if signed else None,
        signed_at=PRINTED_AT - dt.timedelta(minutes=1) if signed else None,
        reprint=reprint,
        printed_at=PRINTED_AT,
    )
    return render_prescription(doc, font=cjk_pdf_font(cid_only=True) if cid else None)


def page_text(pdf: bytes) -> tuple[str, tuple[float, float]]:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    return page.extract_text(), (float(page.mediabox.width), float(page.mediabox.height))


def rasterise(pdf: bytes, tmp_path: Path, name: str) -> Path:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "100", "-singlefile", str(source), str(tmp_path / name)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return tmp_path / f"{name}.png"


def count_colour(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 3) -> int:
    colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return sum(n for n, c in colours if all(abs(a - b) <= tolerance for a, b in zip(c, rgb, strict=True)))


def dark_share(image: Image.Image) -> float:
    histogram = image.convert("L").histogram()
    return sum(histogram[:128]) / sum(histogram)


def approx(size: tuple[float, float], expected: tuple[float, float]) -> bool:
    return all(abs(a - b) < 1 for a, b in zip(size, expected, strict=True))


def test_an_ordinary_prescription_carries_the_patient_lines_usage_total_and_signature() -> None:
    rx = prescription("ordinary")
    text, size = page_text(render("ordinary"))
    assert approx(size, A5_POINTS)
    for expected in (
        "兰州市第一人民医院",
        "处  方  笺",
        "欧阳娜娜",
        "呼吸内科",
        "急性上呼吸道感染",
        "磺胺类",
        "56.5kg",
    ):
        assert expected in text
    for rx_line in rx.lines:
        assert rx_line.drug.generic_name in text
        assert f"×{rx_line.quantity}{rx_line.drug.pack_unit}" in text
    assert "口服，每日3次，每次2粒（0.5g），共7天" in text
    assert "饭后服用" in text and "需皮试" in text
    assert f"¥{rx.amount:.2f}" in text
    assert " ".join(fixed_fingerprint().split()[:5]) in text
    assert "急诊" not in text and "补打" not in text
    assert text.count(WATERMARK) >= 5


def test_an_emergency_reprint_is_labelled_and_marked() -> None:
    text, size = page_text(render("emergency", reprint=True))
    assert approx(size, A5_POINTS)
    assert "急诊处方" in text and "急诊" in text and "王小燕" in text
    assert text.count("补打") >= 2  # the stamp by the header and the footer note
    assert "皮试（－）" in text


def test_a_narcotic_prescription_shows_its_label_and_the_patients_masked_id_number() -> None:
    text, _ = page_text(render("narcotic"))
    assert "麻、精一" in text and "麻醉药品和第一类精神药品处方" in text
    assert "620***********1234" in text and "620102199001011234" not in text
    assert "盐酸吗啡片" in text and "张秀英" in text


def test_an_unsigned_draft_says_so() -> None:
    text, _ = page_text(render("ordinary", signed=False))
    assert "未签名" in text and "密钥指纹" not in text


def test_the_qr_code_is_drawn_into_the_page() -> None:
    with_qr = render("ordinary")
    other_number = render_prescription(
        PrescriptionPrint(
            hospital_name="兰州市第一人民医院",
            draft=prescription("ordinary").model_copy(update={"number": "RX9999999999"}),
            printed_at=PRINTED_AT,
        )
    )
    assert b"/Subtype /Image" not in with_qr  # vector QR: many filled rectangles, no bitmap
    assert len(with_qr) > 0 and with_qr != other_number


@needs_pdftoppm
@pytest.mark.parametrize("kind", ["ordinary", "emergency", "narcotic"])
def test_the_prescription_rasterises_with_its_band_colour(kind: str, tmp_path: Path) -> None:
    png = rasterise(render(kind, reprint=kind == "emergency"), tmp_path, f"rx_{kind}")
    image = Image.open(png)
    assert abs(image.width - 583) <= 2 and abs(image.height - 827) <= 2  # A5 at 100 dpi
    assert 0.01 < dark_share(image) < 0.5  # text drawn, page not blank or black
    if kind in BANDS:
        assert count_colour(image, BANDS[kind]) > 5000  # the band is coloured by type
    else:
        assert count_colour(image, BANDS["emergency"]) == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, SCREENSHOTS / f"rx_{kind}.png")


@needs_pdftoppm
def test_the_cid_fallback_font_still_reads_back_and_renders(tmp_path: Path) -> None:
    pdf = render("emergency", cid=True)
    text, _ = page_text(pdf)
    assert "王小燕" in text and "阿莫西林胶囊" in text and "急诊" in text
    assert b"STSong-Light" in pdf
    image = Image.open(rasterise(pdf, tmp_path, "cid"))
    assert 0.01 < dark_share(image) < 0.5


def visit_note(text_repeat: int = 1) -> VisitNotePrint:
    history = "患者3天前受凉后出现咳嗽，咳白色黏痰，伴发热，最高体温38.6℃，无胸痛、咯血。自服感冒药（具体不详）效果不佳。"
    return VisitNotePrint(
        hospital_name="兰州市第一人民医院",
        patient=patient(allergies=("青霉素", "磺胺类")),
        visit_at=dt.datetime(2026, 11, 22, 9, 5),
        department="呼吸内科",
        doctor_name="李明华",
        doctor_title="主治医师",
        sections=(
            NoteSection(title="主诉", text="咳嗽、咳痰伴发热3天。"),
            NoteSection(title="现病史", text=history * text_repeat),
            NoteSection(title="既往史", text="既往体健，否认高血压、糖尿病病史。"),
            NoteSection(title="体格检查", text="T 38.2℃，P 92次/分，BP 118/76mmHg。咽部充血，双肺呼吸音粗。"),
            NoteSection(
                title="处理", text="1. 头孢克洛胶囊 0.25g 口服 每日3次；2. 多饮水，注意休息；3. 3天后复诊。"
            ),
        ),
        diagnoses=(DiagnosisFacts(code="J06.900", name="急性上呼吸道感染"), DiagnosisFacts(name="发热")),
        signature_fingerprint=fixed_fingerprint(),
        signed_at=dt.datetime(2026, 11, 22, 9, 20),
        printed_at=PRINTED_AT,
    )


def test_the_visit_note_is_a4_with_sections_diagnoses_and_watermark() -> None:
    reader = PdfReader(io.BytesIO(render_visit_note(visit_note())))
    page = reader.pages[0]
    text = page.extract_text()
    assert approx((float(page.mediabox.width), float(page.mediabox.height)), A4_POINTS)
    for expected in (
        "门  诊  病  历",
        "欧阳娜娜",
        "主诉：",
        "咳嗽、咳痰伴发热3天。",
        "急性上呼吸道感染（J06.900）",
        "38.6°C",
    ):
        assert expected in text
    assert text.count(WATERMARK) >= 5 and "第 1 页 / 共 1 页" in text


def test_a_long_visit_note_flows_onto_numbered_pages_with_the_signature_at_the_end() -> None:
    reader = PdfReader(
        io.BytesIO(render_visit_note(visit_note(text_repeat=40).model_copy(update={"reprint": True})))
    )
    texts = [p.extract_text() for p in reader.pages]
    assert len(texts) >= 2
    assert all(f"共 {len(texts)} 页" in t and "补打" in t and WATERMARK in t for t in texts)
    assert "密钥指纹" in texts[-1] and all("密钥指纹" not in t for t in texts[:-1])


@needs_pdftoppm
def test_the_visit_note_rasterises(tmp_path: Path) -> None:
    png = rasterise(render_visit_note(visit_note()), tmp_path, "visit_note_a4")
    image = Image.open(png)
    assert abs(image.width - 827) <= 2 and abs(image.height - 1169) <= 2
    assert 0.005 < dark_share(image) < 0.5
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, SCREENSHOTS / "visit_note_a4.png")


LONG_LINES = {
    "ordinary": [
        "注射用哌拉西林钠他唑巴坦钠",
        "注射用阿莫西林钠克拉维酸钾",
        "复方盐酸伪麻黄碱缓释胶囊",
        "头孢克洛缓释片",
        "注射用头孢哌酮钠舒巴坦钠",
    ],
    "narcotic": ["盐酸吗啡片", "盐酸吗啡注射液", "盐酸羟考酮缓释片", "芬太尼透皮贴剂", "磷酸可待因片"],
}


@pytest.mark.parametrize("kind", ["ordinary", "narcotic"])
def test_five_long_lines_with_notes_stay_clear_of_the_footer(kind: str) -> None:
    note = "首剂加倍，饭后30分钟服用，如出现皮疹立即停药并就诊"
    allergies = (
        "青霉素",
        "头孢类",
        "磺胺类",
        "阿司匹林",
        "花粉",
        "海鲜",
        "碘造影剂",
        "破伤风抗毒素",
        "乳胶",
        "酒精",
    )
    rx = draft(
        *(line(n, note=note) for n in LONG_LINES[kind]),
        pat=patient(allergies=allergies),
        rx_type=kind,  # type: ignore[arg-type]
    )
    rx = rx.model_copy(
        update={
            "diagnoses": tuple(
                DiagnosisFacts(code=f"J{n:02d}.900", name="急性上呼吸道感染伴支气管炎") for n in range(4)
            )
        }
    )
    pdf = render_prescription(
        PrescriptionPrint(hospital_name="兰州市第一人民医院", draft=rx, printed_at=PRINTED_AT)
    )
    rows: dict[float, str] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip() and cm[1] == 0:  # upright text only (the watermark is rotated)
            y = round(tm[5] * cm[3] + cm[5], 1)
            rows[y] = rows.get(y, "") + text  # a big subset font splits a row into several pieces

    PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    lines_y = [y for y, text in rows.items() if text.startswith(("用法", "备注"))]
    footer_y = max(y for y, text in rows.items() if text.startswith("金额合计"))
    assert len(lines_y) == 10
    assert min(lines_y) > footer_y + 14
    assert "、".join(allergies) in "".join(rows.values())  # allergies are never cut


def test_a_prescription_prints_its_times_on_the_hospitals_clock_whatever_zone_they_come_in() -> None:
    clinic_time.use_zone("Pacific/Kiritimati")  # the server said so; this process's own zone is not it
    try:
        at = dt.datetime(2026, 11, 22, 19, 17, tzinfo=dt.UTC)  # 09:17 on the 23rd in Kiritimati
        doc = PrescriptionPrint(
            hospital_name="兰州市第一人民医院",
            draft=prescription("ordinary"),
            fee_category="医保",
            signature_fingerprint=fixed_fingerprint(),
            signed_at=at - dt.timedelta(minutes=1),
            printed_at=at,
        )
        text, _size = page_text(render_prescription(doc))
    finally:
        clinic_time.use_zone(None)
    assert "李明华  2026-11-23 09:17" in text and "2026-11-23 09:16" in text
    assert "2026-11-22 19:17" not in text and "2026-11-23 03:17" not in text  # neither UTC nor Shanghai
