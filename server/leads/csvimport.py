"""CSV lead files: one lead per row, a header naming the columns. A bad row is reported with its
line number and the field to blame, and the good rows are still imported.

Columns are the fields of ``LeadIn`` (company is required); empty cells mean "not given". Line
numbers are physical lines of the file (the header is line 1), so a quoted cell spanning two
lines shifts the following rows as an editor would show them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import msgspec

from server.leads.schemas import LeadIn

__all__ = ["CsvError", "CsvRow", "parse_csv"]

_COLUMNS = frozenset(f.name for f in msgspec.structs.fields(LeadIn))
_FLOATS = frozenset({"lat", "lon"})


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    lead: LeadIn


@dataclass(frozen=True, slots=True)
class CsvError:
    line: int
    field: str | None
    message: str


def _field_of(message: str) -> str | None:
    if "`$." in message:
        return message.split("`$.", 1)[1].split("`", 1)[0]
    if "`" in message:
        return message.split("`", 2)[1]
    return None


def parse_csv(text: str) -> tuple[list[CsvRow], list[CsvError]]:
    """Rows that validate, and the errors of the others. A header that is missing, lacks
    ``company`` or names an unknown column is a single error on line 1 (nothing can be read)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return [], [CsvError(1, None, "the file is empty: expected a header line")]
    except csv.Error as exc:
        return [], [CsvError(1, None, f"unreadable header: {exc}")]
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in _COLUMNS]
    if unknown:
        return [], [
            CsvError(
                1,
                unknown[0],
                f"unknown column {unknown[0]!r}; known: {', '.join(sorted(_COLUMNS))}",
            )
        ]
    if "company" not in columns:
        return [], [CsvError(1, "company", "the header must include a 'company' column")]
    if len(set(columns)) != len(columns):
        return [], [CsvError(1, None, "a column is named twice in the header")]

    rows: list[CsvRow] = []
    errors: list[CsvError] = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(CsvError(start, None, f"malformed CSV: {exc}"))
            line = reader.line_num
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank lines are not rows
        if len(cells) != len(columns):
            errors.append(
                CsvError(start, None, f"expected {len(columns)} cells, found {len(cells)}")
            )
            continue
        raw: dict[str, object] = {}
        bad: CsvError | None = None
        for name, cell in zip(columns, cells, strict=True):
            value = cell.strip()
            if not value:
                continue
            if name in _FLOATS:
                try:
                    raw[name] = float(value)
                except ValueError:
                    bad = CsvError(start, name, f"{value!r} is not a number")
                    break
            else:
                raw[name] = value
        if bad is not None:
            errors.append(bad)
            continue
        try:
            lead = msgspec.convert(raw, LeadIn)
        except msgspec.ValidationError as exc:
            errors.append(CsvError(start, _field_of(str(exc)), str(exc)))
            continue
        if (lead.lat is None) != (lead.lon is None):
            errors.append(
                CsvError(
                    start, "lat" if lead.lat is None else "lon", "give both lat and lon, or neither"
                )
            )
            continue
        rows.append(CsvRow(start, lead))
    return rows, errors
