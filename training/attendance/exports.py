"""Attendance reports as CSV and XLSX: the per-lecture report and the period matrix.

Each report becomes one table (a header and rows of text or numbers, ``tables``); a writer
turns the table into a file. Every text cell that a spreadsheet program would read as a
formula or a command (one starting with ``= + - @``, a tab or a carriage return) is
neutralised with a leading apostrophe: clinic names and lecture titles are typed by people,
and a coordinator opens the file in Excel or WPS. XLSX cells are written as strings or numbers
explicitly, never as formulas. Headers are in the reader's language (``translate``).

XlsxWriter's ``constant_memory`` mode streams rows to disk as they are written: a term's
matrix of 100 lectures × 304 clinics takes well under a second.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from training.attendance.matrix import MatrixCell, MatrixRow, PeriodMatrix, RollUp
from training.attendance.report_types import LectureReport

Translate = Callable[[str], str]
Cell = str | float | int | None
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: a leading apostrophe before a
    formula or command start (OWASP's advice for CSV injection)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class Table:
    """One sheet: ``kinds`` says per row how to show it (``header``, ``total``, ``rollup``,
    ``absent`` or ``row``), for the XLSX formats; CSV ignores it."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    kinds: tuple[str, ...]
    absent: str  # the word for an absent clinic, shown in red wherever it stands


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def _percent(share: float) -> float:
    return round(share * 100, 1)


def lecture_table(report: LectureReport, translate: Translate) -> Table:
    """The per-lecture report: one row per clinic of the audience (absent first) and a
    total."""
    _ = translate
    header = (
        _("Region code"), _("Clinic"), _("Above"), _("Level"), _("Attended"),
        _("Minutes watched"), _("Minutes live"), _("Minutes on demand"), _("Share watched (%)"),
        _("Head count"), _("Viewers"), _("Stalls per hour"), _("Stalled (%)"),
        _("Main rendition"),
    )  # fmt: skip
    rows: list[tuple[Cell, ...]] = []
    kinds: list[str] = []
    for line in report.clinics:
        rows.append((
            line.region_code, line.name, line.parent_name, _(line.level),
            _("yes") if line.attended else _("absent"), _minutes(line.watched_s),
            _minutes(line.live_s), _minutes(line.vod_s), _percent(line.share), line.head_count,
            line.viewers, round(line.stalls_per_hour, 1), _percent(line.stalled_share),
            line.main_rendition,
        ))  # fmt: skip
        kinds.append("row" if line.attended else "absent")
    totals = report.totals
    rows.append((
        "", _("Total"), "", "", f"{totals.attended}/{totals.clinics}",
        _minutes(totals.watched_s), _minutes(totals.live_s), _minutes(totals.vod_s), None,
        totals.head_count, totals.viewers, None, None, "",
    ))  # fmt: skip
    kinds.append("total")
    return Table(report.title, header, tuple(rows), tuple(kinds), _("absent"))


def _matrix_cell(cell: MatrixCell | None, translate: Translate) -> Cell:
    if cell is None:
        return None  # not in the lecture's audience
    return _minutes(cell.watched_s) if cell.attended else translate("absent")


def _ratio(roll: RollUp | None) -> Cell:
    return f"{roll.attended}/{roll.clinics}" if roll is not None else None


def _matrix_rows(row: MatrixRow, translate: Translate) -> list[tuple[tuple[Cell, ...], str]]:
    """A clinic's row (minutes where it attended, "absent" where not) and, for a clinic with
    clinics below, the roll-up row (attended/in the audience, per lecture)."""
    name = row.name  # not indented: a spreadsheet may trim the spaces and run what follows
    found: list[tuple[tuple[Cell, ...], str]] = [
        (
            (row.region_code, name, translate(row.level.value),
             *(_matrix_cell(cell, translate) for cell in row.cells), _ratio(row.mandatory)),
            "row",
        )
    ]  # fmt: skip
    if row.below is not None:
        label = f"{name} · {translate('clinics below')}"
        cells = (_ratio(roll) for roll in row.below)
        found.append(((row.region_code, label, "", *cells, _ratio(row.below_mandatory)), "rollup"))
    return found


def matrix_table(matrix: PeriodMatrix, translate: Translate) -> Table:
    """The period matrix: a row per clinic in tree order (a clinic with clinics below is
    followed by their roll-up), a column per lecture, and the mandatory lectures attended."""
    columns = tuple(
        f"{lecture.day.isoformat()} {lecture.title}"
        + (f" ({translate('mandatory')})" if lecture.mandatory else "")
        for lecture in matrix.lectures
    )
    header = (translate("Region code"), translate("Clinic"), translate("Level"), *columns,
              translate("Mandatory lectures attended"))  # fmt: skip
    pairs = [pair for row in matrix.rows for pair in _matrix_rows(row, translate)]
    title = f"{matrix.first_day.isoformat()} – {matrix.last_day.isoformat()}"
    rows = tuple(cells for cells, _kind in pairs)
    kinds = tuple(kind for _cells, kind in pairs)
    return Table(title, header, rows, kinds, translate("absent"))


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return str(int(value)) if float(value).is_integer() else str(value)


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens Chinese names correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_text(value) for value in table.header])
    writer.writerows([_text(value) for value in row] for row in table.rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def sheet_name(title: str) -> str:
    """Excel's rules: at most 31 characters, none of ``[]:*?/\\``, no leading apostrophe."""
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in title).strip("'")
    return cleaned[:31] or "Sheet1"


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """One sheet per table, the header frozen, absent clinics in red."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True})
    formats = {
        "header": workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"}),
        "total": workbook.add_format({"bold": True, "top": 1}),
        "rollup": workbook.add_format({"italic": True, "bg_color": "#EEF3F7"}),
        "absent": workbook.add_format({"font_color": "#A4161A"}),
        "row": None,
    }
    used: set[str] = set()
    for number, table in enumerate(tables, start=1):
        name = sheet_name(table.title)
        if name in used:
            name = f"{name[:27]} ({number})"
        used.add(name)
        sheet = workbook.add_worksheet(name)
        sheet.freeze_panes(1, 2)
        sheet.set_column(0, 0, 14)
        sheet.set_column(1, 1, 28)
        sheet.set_column(2, len(table.header) - 1, 12)
        _write_row(sheet, 0, table.header, formats["header"])
        for index, (row, kind) in enumerate(zip(table.rows, table.kinds, strict=True), start=1):
            _write_row(sheet, index, row, formats[kind], (table.absent, formats["absent"]))
    workbook.close()
    return buffer.getvalue()


def _write_row(
    sheet: Worksheet,
    index: int,
    row: Sequence[Cell],
    cell_format: Format | None,
    absent: tuple[str, Format | None] = ("", None),
) -> None:
    for column, value in enumerate(row):
        if value is None:
            continue
        if isinstance(value, str):
            shown = absent[1] if value == absent[0] else cell_format
            sheet.write_string(index, column, neutralise(value), shown)
        else:
            sheet.write_number(index, column, value, cell_format)


def lecture_csv(report: LectureReport, translate: Translate) -> bytes:
    return to_csv(lecture_table(report, translate))


def lecture_xlsx(report: LectureReport, translate: Translate) -> bytes:
    return to_xlsx([lecture_table(report, translate)])


def matrix_csv(matrix: PeriodMatrix, translate: Translate) -> bytes:
    return to_csv(matrix_table(matrix, translate))


def matrix_xlsx(matrix: PeriodMatrix, translate: Translate) -> bytes:
    return to_xlsx([matrix_table(matrix, translate)])
