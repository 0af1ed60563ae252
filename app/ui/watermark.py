"""The diagonal TRAINING watermark: on every screen of a training session and every training printout."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QWidget

WATERMARK_TEXT = "TRAINING"


def paint_watermark(painter: QPainter, rect: QRectF, text: str = WATERMARK_TEXT, *, alpha: int = 48) -> None:
    """Draw ``text`` diagonally across ``rect``, repeated so no part of the page escapes it."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    size = max(24.0, min(rect.width(), rect.height()) / 6)
    font = QFont("DejaVu Sans", 10, QFont.Weight.Black)
    font.setPixelSize(int(size))
    painter.setFont(font)
    painter.setPen(QColor(128, 0, 128, alpha))
    painter.translate(rect.center())
    painter.rotate(-30)
    step_y = size * 2.6
    span = max(rect.width(), rect.height())
    y = -span
    while y <= span:
        painter.drawText(QRectF(-span, y, 2 * span, size * 1.4), Qt.AlignmentFlag.AlignCenter,
                         f"{text}     {text}     {text}")
        y += step_y
    painter.restore()


class Watermark(QWidget):
    """A see-through layer over ``host`` that clicks pass through; stays on top and sized to the host."""

    def __init__(self, host: QWidget, text: str = WATERMARK_TEXT):
        super().__init__(host)
        self.text = text
        self.setObjectName("trainingWatermark")
        self.setAccessibleName(f"{text} watermark")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        host.installEventFilter(self)
        self.setGeometry(host.rect())
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        if watched is self.parent() and event.type() in (QEvent.Type.Resize, QEvent.Type.ChildAdded,
                                                         QEvent.Type.Show):
            self.setGeometry(self.parent().rect())
            self.raise_()
        return False

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        paint_watermark(painter, QRectF(self.rect()))
        painter.end()
