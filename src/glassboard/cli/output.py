"""The one writer of every listing the CLI prints: a table for people, JSON or CSV for programs (`--format`).

Why one place: `glassboard models | grep chat-exp` and an 80-column terminal must both work for every command.
- table on a terminal: a Rich table whose key columns (names) and hashes (their first 12 hex characters) never
  wrap or shrink; other cells are cut with an ellipsis to fit.
- table into a pipe or file: plain text, one line per row, columns aligned with spaces, no box drawing and no
  width limit; titles and notes go to stderr so stdout holds only the header line and the rows.
- json: the command's full document when it has one, else the rows as a list of objects (full values).
- csv: the document when it is a list of flat objects, else the first listing's rows (full values), with a header.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

HASH_CHARS = 12


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[OutputFormat, typer.Option(
    "--format", help="table (plain text when piped), json or csv.", case_sensitive=False)]


def plain(value: Any) -> str:
    """A cell as text: '' for None, yes/no for booleans, '–' for NaN, three decimals for other floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def short_hash(value: Any) -> str:
    """'sha256:0123456789abcdef…' or a bare hex digest -> its first 12 hex characters; other text as it is."""
    text = plain(value).removeprefix("sha256:")
    if len(text) > HASH_CHARS and all(c in "0123456789abcdef" for c in text):
        return text[:HASH_CHARS]
    return text


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its key in JSON/CSV, its table header, how a value is shown in the table."""

    key: str
    header: str = ""
    show: Callable[[Any], str] = plain
    justify: Literal["left", "right"] = "left"
    key_column: bool = False  # a name: never wrapped or cut, in any width

    @property
    def title(self) -> str:
        return self.header or self.key


@dataclass(frozen=True, slots=True)
class Listing:
    """A table's worth of output: rows of raw values in column order, plus a title and notes for people."""

    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    notes: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        keys = [column.key for column in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


def emit(listings: Listing | Sequence[Listing], fmt: OutputFormat, *, document: Any = None,
         file: TextIO | None = None) -> None:
    """Write `listings` to stdout (or `file`) in `fmt`; `document` is the JSON to write instead of the rows."""
    listings = [listings] if isinstance(listings, Listing) else list(listings)
    out = file if file is not None else sys.stdout
    if fmt is OutputFormat.json:
        if document is None:
            document = listings[0].records() if len(listings) == 1 else {x.title: x.records() for x in listings}
        out.write(json.dumps(document, indent=2, ensure_ascii=False, default=_json_default) + "\n")
    elif fmt is OutputFormat.csv:
        if isinstance(document, list) and all(isinstance(item, dict) for item in document):
            keys = list(dict.fromkeys(key for item in document for key in item))
            rows = [[item.get(key) for key in keys] for item in document]
        else:
            keys = [column.key for column in listings[0].columns]
            rows = [list(row) for row in listings[0].rows]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows([[_csv_cell(value) for value in row] for row in rows])
    else:
        console = Console(file=out) if file is not None else Console()
        if console.is_terminal:
            for listing in listings:
                console.print(rich_table(listing, console.width))
                for note in listing.notes:
                    console.print(f"[dim]{escape(note)}[/]", highlight=False)
        else:
            _plain_tables(listings, out)
    out.flush()


def rich_table(listing: Listing, width: int) -> Table:
    """A Rich table `width` characters wide at most, in which names and short hashes keep their full width; other
    cells are cut with an ellipsis (widest first) rather than wrapped; no rules, two spaces between columns."""
    table = Table(title=escape(listing.title), title_style="bold", header_style="bold cyan", box=None,
                  padding=(0, 1), pad_edge=False)
    widths = [max([len(column.title), *(len(column.show(row[i])) for row in listing.rows)])
              for i, column in enumerate(listing.columns)]
    flexible = [i for i, column in enumerate(listing.columns) if not (column.key_column or column.show is short_hash)]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0 and flexible:
        widest = max(flexible, key=lambda i: widths[i])
        if widths[widest] <= 3:
            break
        widths[widest] -= 1
        excess -= 1
    for column, column_width in zip(listing.columns, widths, strict=True):
        table.add_column(escape(column.title), justify=column.justify, no_wrap=True, overflow="ellipsis",
                         width=column_width)
    for row in listing.rows:
        table.add_row(*(escape(column.show(value)) for column, value in zip(listing.columns, row, strict=True)))
    return table


def _plain_tables(listings: list[Listing], out: Any) -> None:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for number, listing in enumerate(listings):
        if number:
            out.write("\n")
        if listing.title:
            err.print(escape(listing.title))
        cells = [[column.title for column in listing.columns]]
        cells += [[column.show(value) for column, value in zip(listing.columns, row, strict=True)]
                  for row in listing.rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(listing.columns))]
        for line in cells:
            padded = [cell.rjust(width) if column.justify == "right" else cell.ljust(width)
                      for cell, width, column in zip(line, widths, listing.columns, strict=True)]
            out.write("  ".join(padded).rstrip() + "\n")
        for note in listing.notes:
            err.print(escape(note))


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)
