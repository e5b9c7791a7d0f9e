"""SQL identifiers as this project writes them into a statement: always quoted, so a name is never read as SQL."""

from __future__ import annotations


def quote(name: str) -> str:
    """An identifier quoted for SQL (a name holding a double quote doubles it)."""
    return '"' + name.replace('"', '""') + '"'


def quote_table(table: str) -> str:
    """A `name` or `schema.name` quoted part by part."""
    return ".".join(quote(part) for part in table.split("."))
