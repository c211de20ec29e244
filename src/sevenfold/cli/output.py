"""How results print: ``--output table`` for people, ``--output json`` for scripts.

JSON output is the API's own JSON for the thing (an object for create/show/update, an
array for list), with keys sorted, so scripts can rely on the field names documented
in docs/cli.md. Tables pick a few columns and never truncate IDs (people copy them).
Progress and notes go to stderr so stdout stays parseable.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import click


class OutputFormat(StrEnum):
    """The ``--output`` choices."""

    TABLE = "table"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its header and how to get its text from an API object."""

    header: str
    key: str | Callable[[dict[str, Any]], Any]

    def text(self, item: dict[str, Any]) -> str:
        """The cell text for one object (empty for a missing or null value)."""
        value = self.key(item) if callable(self.key) else item.get(self.key)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)


def to_json(data: Any) -> str:
    """The stable JSON text of an API value."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def render_table(items: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    """Align ``items`` under ``columns``; an empty listing says so."""
    if not items:
        return "(none)"
    rows = [[column.header for column in columns]]
    rows += [[column.text(item) for column in columns] for item in items]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def render_record(item: dict[str, Any], fields: Sequence[Column]) -> str:
    """One object as ``field: value`` lines."""
    width = max(len(column.header) for column in fields)
    return "\n".join(
        f"{column.header.ljust(width)}  {column.text(item)}".rstrip()
        for column in fields
    )


@dataclass(frozen=True, slots=True)
class Printer:
    """Prints results in the format the user chose."""

    format: OutputFormat

    def listing(
        self, items: Sequence[dict[str, Any]], columns: Sequence[Column]
    ) -> None:
        """Print a list of API objects."""
        if self.format is OutputFormat.JSON:
            click.echo(to_json(list(items)))
        else:
            click.echo(render_table(items, columns))

    def record(self, item: dict[str, Any], fields: Sequence[Column]) -> None:
        """Print one API object."""
        if self.format is OutputFormat.JSON:
            click.echo(to_json(item))
        else:
            click.echo(render_record(item, fields))

    def record_with_secret(
        self, item: dict[str, Any], fields: Sequence[Column], *, shown_once: str
    ) -> None:
        """Print a new object whose ``shown_once`` is a secret shown this once.

        In a table the secret gets a line of its own on stdout, so it can be captured
        (``| tail -1``) without the JSON format.
        """
        if self.format is OutputFormat.JSON:
            click.echo(to_json(item))
            return
        self.record(item, fields)
        self.note("Token (shown once; store it now):")
        click.echo(item[shown_once])

    def deleted(self, item: dict[str, Any]) -> None:
        """Say that a named thing was deleted (JSON: its ID and name)."""
        self.record(
            {"id": item["id"], "name": item["name"], "deleted": True},
            (Column("Deleted", "name"), Column("ID", "id")),
        )

    def note(self, message: str) -> None:
        """A remark for people (stderr in every format, so stdout stays clean)."""
        click.echo(message, err=True)
