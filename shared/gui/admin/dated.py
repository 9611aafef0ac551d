"""The "from now / from this time on" choice of a dated change (a drug price, a prescription rule
table): one widget, one reading of the moment it gives, one way to say it back to the administrator."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, QDateTime, QTime
from PySide6.QtWidgets import QDateTimeEdit, QHBoxLayout, QRadioButton, QWidget

from shared import clinic_time
from shared.gui.admin.texts import t
from shared.i18n import register

for _key, (_zh, _en, _tw) in {
    "dated.immediately": ("立即生效", "From now", "立即生效"),
    "dated.at_time": ("从以下时间起生效", "From this time on", "從以下時間起生效"),
    "dated.when_now": ("立即生效", "from now", "立即生效"),
    "dated.when_at": ("{at} 起生效", "from {at}", "{at} 起生效"),
}.items():
    register(f"admin.{_key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})

TIME_FORMAT = "%Y-%m-%d %H:%M"


def local_time(moment: dt.datetime | None) -> str:
    """``moment`` in this PC's time zone as the admin screens show it; empty for None."""
    return clinic_time.local(moment).strftime(TIME_FORMAT) if moment else ""


class EffectiveFrom(QWidget):
    """Two choices: from now (the default), or from a moment picked in the editor (tomorrow at first)."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        self.immediately = QRadioButton(t("dated.immediately", lang))
        self.at_time = QRadioButton(t("dated.at_time", lang))
        self.immediately.setChecked(True)
        self.effective = QDateTimeEdit()
        self.effective.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.effective.setCalendarPopup(True)
        now = clinic_time.now()  # the editor shows the hospital's wall clock
        self.effective.setDateTime(
            QDateTime(QDate(now.year, now.month, now.day), QTime(now.hour, now.minute)).addDays(1)
        )
        self.effective.setEnabled(False)
        self.at_time.toggled.connect(self.effective.setEnabled)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.immediately)
        row.addWidget(self.at_time)
        row.addWidget(self.effective, 1)

    def moment(self) -> dt.datetime | None:
        """The moment chosen (aware, this PC's zone), or None for "from now"."""
        if self.immediately.isChecked():
            return None
        chosen: dt.datetime = self.effective.dateTime().toPython()  # type: ignore[assignment]
        return clinic_time.aware(chosen)

    def when_text(self, moment: dt.datetime | None) -> str:
        """ "from now" or "from <moment>", for the message after saving."""
        if moment is None:
            return t("dated.when_now", self.lang)
        return t("dated.when_at", self.lang, at=moment.strftime(TIME_FORMAT))
