"""Printouts for the manual tier: the unit board, one task, and blank downtime forms.

Each printout is an HTML document laid out page by page on a QPrinter (a PDF file or a real
printer), with a footer on every page and, in training, the TRAINING watermark on every page.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QMarginsF, QRectF, QSizeF
from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPainter, QTextDocument
from PySide6.QtPrintSupport import QPrinter

import forms
from app.services.board import destination_text
from app.services.printing import private_pdf
from sync.clock import local_text

from .board_model import COLUMNS
from .task_detail import TIMELINE_COLUMNS, local_time, timeline_cells
from .watermark import paint_watermark

_STYLE = ("<style>body{font-family:'DejaVu Sans';font-size:10pt} h1{font-size:16pt} h2{font-size:12pt}"
          " table{border-collapse:collapse} td,th{border:1px solid #444;padding:3px;vertical-align:top}"
          " th{background:#ddd}</style>")


_TIMELINE_WIDTHS = (11, 9, 15, 15, 17, 9, 15, 9)


def _e(text) -> str:
    return html.escape(str(text or ""))


def _head(title: str, context: dict) -> str:
    when = local_text(context["printed_at"])
    mode = context.get("mode", "").upper()
    return (f"<html><head>{_STYLE}</head><body><h1>{_e(title)}</h1>"
            f"<p>{_e(mode)} · site {_e(context.get('site_id'))} · unit {_e(context.get('unit_id'))} · "
            f"printed {when} by {_e(context.get('name'))}</p>")


def board_html(rows: list[list[str]], context: dict, filter_text: str) -> str:
    """The unit board as shown (already filtered and sorted): ``rows`` are the cells of each row."""
    out = [_head("Unit board", context), f"<p>{_e(filter_text)} · {len(rows)} task(s)</p>",
           "<table width='100%'><tr>", *(f"<th>{_e(c)}</th>" for c in COLUMNS), "</tr>"]
    for cells in rows:
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    out.append("</table></body></html>")
    return "".join(out)


def task_html(task: dict, context: dict) -> str:
    """One task from ``app.services.printing.task_printout``: patient, answers, timeline."""
    p = task.get("patient") or {}
    title = f"{forms.WORKFLOW_TITLES.get(task['workflow'], task['workflow'])} task"
    out = [_head(title, context),
           f"<h2>{_e((p.get('family') or '').upper())}, {_e(p.get('given'))} · {_e(task['patient_id'])}"
           f"{' · TEMPORARY' if p.get('temporary') else ''}</h2>",
           f"<p>Born {_e(p.get('birth_date') or '?')} · {_e(p.get('location') or '')}</p>",
           f"<p>Status <b>{_e(task['status'])}</b> · priority <b>{_e(task['priority'])}</b> · destination "
           f"<b>{_e(destination_text(task.get('destination'), '-'))}</b> · captured {_e(local_time(task.get('created_at')))}"
           f" · task {_e(task['task_id'])}</p><p>{_e(task.get('summary'))}</p><h2>Answers</h2><table width='100%'>"]
    for depth, label, value in task["answer_lines"]:
        pad = "&nbsp;" * 4 * depth
        out.append(f"<tr><td>{pad}{_e(label)}</td><td><b>{_e(value)}</b></td></tr>")
    out.append("</table><h2>Timeline</h2><table width='100%'><tr>")
    out += [f"<th width='{w}%'>{_e(c)}</th>" for c, w in zip(TIMELINE_COLUMNS, _TIMELINE_WIDTHS, strict=True)]
    out.append("</tr>")
    for entry in task["timeline"]:
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in timeline_cells(entry)) + "</tr>")
    out.append("</table></body></html>")
    return "".join(out)


def blank_form_html(workflow: str, context: dict) -> str:
    """A blank paper form of the workflow for when even the workstation must go to paper."""
    title = f"DOWNTIME PAPER FORM: {forms.WORKFLOW_TITLES[workflow]}"
    out = [_head(title, context),
           "<table width='100%'><tr><td>Patient name<br><br></td><td>Date of birth<br><br></td></tr>"
           "<tr><td>MRN or downtime ID<br><br></td><td>Location / bed<br><br></td></tr></table>",
           "<p>* = required. Enter this form into Tideover later as a back-dated entry marked "
           "'paper form'.</p><table width='100%'>"]
    for depth, label, hint in forms.blank_form_lines(workflow):
        pad = "&nbsp;" * 4 * depth
        if hint:
            out.append(f"<tr><td width='45%'>{pad}{_e(label)}</td><td>{_e(hint)}</td></tr>")
        else:
            out.append(f"<tr><td colspan='2'>{pad}<b>{_e(label)}</b></td></tr>")
    out.append("</table><p>Completed by (name, role) ____________________ Date/time ____-__-__ __:__"
               "&nbsp;&nbsp; Signature ______________</p></body></html>")
    return "".join(out)


def pdf_printer(path: str) -> QPrinter:
    """A printer to the PDF file ``path``, which is made private (0600) before Qt writes it."""
    private_pdf(path)
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(path)
    printer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                      QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter))
    return printer


def render(printer: QPrinter, document_html: str, *, title: str, footer: str, training: bool,
           landscape: bool = False) -> int:
    """Lay ``document_html`` out on ``printer`` page by page; returns the number of pages."""
    if landscape:
        printer.setPageOrientation(QPageLayout.Orientation.Landscape)
    printer.setDocName(title)
    painter = QPainter()
    if not painter.begin(printer):
        raise OSError(f"Cannot print to {printer.outputFileName() or printer.printerName() or 'the printer'}.")
    try:
        page = QRectF(printer.pageRect(QPrinter.Unit.DevicePixel))
        footer_h = page.height() * 0.04
        body = QSizeF(page.width(), page.height() - footer_h)
        doc = QTextDocument()
        doc.setDefaultFont(QFont("DejaVu Sans", 10))
        doc.documentLayout().setPaintDevice(printer)
        doc.setHtml(document_html)
        doc.setPageSize(body)
        pages = max(1, doc.pageCount())
        footer_font = QFont("DejaVu Sans", 8)
        for n in range(pages):
            if n:
                printer.newPage()
            painter.save()
            painter.translate(0, -n * body.height())
            doc.drawContents(painter, QRectF(0, n * body.height(), body.width(), body.height()))
            painter.restore()
            painter.setFont(footer_font)
            painter.drawText(QRectF(0, body.height(), body.width(), footer_h), 0,
                             f"{'TRAINING · ' if training else ''}{footer} · page {n + 1} of {pages}")
            if training:
                paint_watermark(painter, QRectF(0, 0, page.width(), page.height()), alpha=70)
    finally:
        painter.end()
    return pages
