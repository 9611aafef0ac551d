"""The pharmacy's test pages: a receipt and a drug label of its own sort (ESC/POS with Chinese, an amount
and a QR code; a 70×50 / 60×40 mm label PDF); the other kinds get the generic page of their paper.

Everything else about printer settings (kinds, saving, permissions, the screen) is shared:
``shared.printing.settings`` and ``shared.gui.printers``.
"""

from __future__ import annotations

from pharmacy_desk.documents import labels_pdf, receipt_bytes, sample_label, sample_receipt
from shared import clinic_time
from shared.printing.kinds import Content
from shared.printing.settings import test_page as generic_test_page
from shared.site import PrinterSetting


def test_page(kind: str, setting: PrinterSetting, title: str) -> tuple[Content, bytes]:
    """(content, bytes) of a test page for ``kind`` on ``setting``'s paper."""
    now = clinic_time.now()
    if kind == "receipt":
        return "escpos", receipt_bytes(
            sample_receipt(now), paper=setting.paper or "80mm", encoding=setting.encoding
        )
    if kind == "drug_label":
        return "pdf", labels_pdf([sample_label(now.date())], size=setting.paper or "70x50")
    return generic_test_page(kind, setting, title)
