"""ESC/POS bytes are what the printer manual says, and the decoder reads them back."""

from __future__ import annotations

import pytest

from shared.errors import ValidationFailed
from shared.printing.escpos import EscPos, text_columns, wrap_columns
from shared.printing.escpos_decode import decode, describe, main


def test_chinese_text_goes_out_as_gb18030_after_switching_chinese_mode_on() -> None:
    data = EscPos().init().line("诊室 3").build()
    assert data == b"\x1b@" + b"\x1c&" + "诊室 3".encode("gb18030") + b"\n"
    assert decode(data).lines == ["诊室 3"]


def test_ascii_only_text_does_not_touch_the_chinese_mode() -> None:
    data = EscPos().init().line("A023").build()
    assert data == b"\x1b@A023\n"


def test_characters_outside_printer_fonts_are_replaced_and_reported() -> None:
    document = EscPos().init().line("王𬌗")  # 𬌗 (CJK Ext. E) takes four bytes in GB18030
    assert document.unprintable == ["𬌗"]
    assert decode(document.build()).lines == ["王?"]


def test_sizes_alignment_and_bold_are_encoded_and_decoded() -> None:
    data = EscPos().init().align("center").bold().size(4, 4).line("A023").size(1, 2).line("前面").build()
    assert b"\x1d!\x33" in data and b"\x1c!\x0c" in data and b"\x1ba\x01" in data and b"\x1bE\x01" in data
    big, small = decode(data).runs
    assert (big.text, big.align, big.bold, big.width, big.height) == ("A023", "center", True, 4, 4)
    assert (small.text, small.width, small.height) == ("前面", 1, 2)
    with pytest.raises(ValidationFailed):
        EscPos().size(9, 1)


def test_a_native_qr_code_is_stored_then_printed() -> None:
    data = EscPos().qr("clinic:ticket:42", module=5, ec="Q").build()
    payload = b"clinic:ticket:42"
    assert data == (
        b"\x1d(k\x04\x001A2\x00"
        b"\x1d(k\x03\x001C\x05"
        b"\x1d(k\x03\x001E2"
        + b"\x1d(k" + bytes([len(payload) + 3, 0]) + b"1P0" + payload
        + b"\x1d(k\x03\x001Q0"
    )  # fmt: skip
    decoded = decode(data)
    assert decoded.qr_payloads == ["clinic:ticket:42"]
    assert decoded.named("qr_error_correction")[0].args["value"] == "Q"
    with pytest.raises(ValidationFailed):
        EscPos().qr("")


def test_the_cut_is_a_partial_cut_by_default() -> None:
    assert EscPos().cut().build() == b"\x1dVB\x00"
    assert EscPos().cut(partial=False).build() == b"\x1dVA\x00"
    decoded = decode(EscPos().line("x").cut().build())
    assert decoded.cut_count == 1 and decoded.commands[-1].args["partial"] is True


def test_tall_images_go_out_in_bands_and_decode_back_to_the_same_picture() -> None:
    from PIL import Image, ImageDraw

    image = Image.new("L", (100, 600), 255)
    ImageDraw.Draw(image).rectangle([10, 10, 60, 590], fill=0)
    data = EscPos().image(image).build()

    decoded = decode(data)
    assert len(decoded.named("raster")) == 3  # 256 + 256 + 88 rows
    (whole,) = decoded.images
    assert (whole.width, whole.height) == (104, 600)  # padded to whole bytes
    back = whole.to_image()
    assert back.getpixel((30, 300)) == 0 and back.getpixel((80, 300)) == 255


def test_unknown_bytes_are_reported_and_skipped() -> None:
    decoded = decode(b"\x1b@\x1bZabc\n")
    assert decoded.commands[1].name == "unknown"
    assert decoded.lines == ["Zabc"]
    assert "unknown" in describe(decoded)


def test_columns_count_chinese_as_two() -> None:
    assert text_columns("A诊室") == 5
    assert wrap_columns("请留意叫号屏幕和广播", 8) == ["请留意叫", "号屏幕和", "广播"]
    assert all(
        text_columns(line) <= 20 for line in wrap_columns("Watch the screen and listen for your number", 20)
    )


def test_the_decoder_command_line_lists_a_captured_job(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    job = tmp_path / "job.bin"
    job.write_bytes(EscPos().init().line("内科").cut().build())
    assert main([str(job), "--text"]) == 0
    assert capsys.readouterr().out == "内科\n"
    assert main([str(job)]) == 0
    assert "chinese_on" in capsys.readouterr().out
