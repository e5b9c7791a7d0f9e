"""What a SQL source may run, and the one statement built from it: pure text work, no driver.

A spec's `query:` must be ONE SELECT (or WITH ... SELECT). The check is conservative and needs no parser (sqlglot
does not come with the pins): comments, string literals and quoted identifiers are blanked, then a second
statement (a `;` before the end) or any word that writes, changes the schema or the session (INSERT, UPDATE,
DELETE, CREATE, COPY, ATTACH, SET, INTO, ...) refuses the query, even where a parser would have let it pass (a
column named `set` must then be quoted). The read itself also runs read-only where the engine allows.

The statement a read runs wraps the table or the query as a subquery: only the columns the spec uses are
selected, and the window [start, end) of the time column is a WHERE on it with BOUND parameters (`$1`, `$2`),
never values formatted into the SQL text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# words that do something else than read: a query holding one of them (outside strings and quoted names) is refused
WRITING_WORDS = frozenset(
    {
        *("insert", "update", "delete", "merge", "upsert", "create", "drop", "alter", "truncate", "grant"),
        *(
            "revoke",
            "copy",
            "call",
            "execute",
            "attach",
            "detach",
            "install",
            "load",
            "pragma",
            "set",
            "reset",
        ),
        *(
            "vacuum",
            "export",
            "import",
            "into",
            "lock",
            "checkpoint",
            "prepare",
            "begin",
            "commit",
            "rollback",
        ),
        # functions that change the server or its sequences, or run a text as SQL (DuckDB's query())
        *("set_config", "nextval", "setval", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf"),
        *("lo_import", "lo_export", "lo_unlink", "dblink", "dblink_exec", "query", "query_table"),
    }
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
# blanked before the words are read: -- comments, /* comments */, 'strings' ('' inside), "names" ("" inside),
# PostgreSQL's $tag$ ... $tag$ strings
_QUOTED = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$[A-Za-z_]*\$).*?\1", re.DOTALL
)


def query_problem(query: str) -> str | None:
    """Why `query` is not a single SELECT this project will run (None: it is one). Conservative: see the module."""
    text = query.strip()
    if not text:
        return "the query is empty"
    bare = _QUOTED.sub(" ", text)
    if "'" in bare or '"' in bare or "/*" in bare:
        return "the query has an unclosed quote or comment"
    body = bare.rstrip().rstrip(";").rstrip()
    if ";" in body:
        return "the query holds more than one statement (a ';' before its end)"
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", body)
    if not words or words[0].lower() not in ("select", "with"):
        first = words[0].upper() if words else body[:20]
        return f"the query starts with {first}, not SELECT (or WITH ... SELECT)"
    refused = sorted({w.upper() for w in words if w.lower() in WRITING_WORDS})
    if refused:
        return (
            f"the query uses {', '.join(refused)}, which may write or change the session; only a plain read "
            "is run (quote a column whose name is one of these words)"
        )
    if "$" in body and re.search(r"\$\d", body):
        return "the query holds a parameter placeholder ($1, ...); the window is added as parameters by the reader"
    return None


def table_problem(table: str) -> str | None:
    """Why `table` is not a table name this project will quote (None: it is `name`, `schema.name` or
    `catalog.schema.name`, letters, digits, '_' and '$')."""
    if _IDENTIFIER.match(table):
        return None
    return "a table is named by letters, digits and '_' (schema.table allowed); for anything else use query:"


# in a query, a name as written: bare or "quoted" parts joined by dots (comments and 'strings' blanked first)
_PART = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = re.compile(_PART + r"(?:\s*\.\s*" + _PART + r")*")
_NOT_NAMES = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|(\$[A-Za-z_]*\$).*?\1", re.DOTALL)


def _parts(name: str) -> list[str]:
    """A dotted name's parts, unquoted, lower case (PostgreSQL and DuckDB fold bare names; compared loosely)."""
    found = re.findall(r'"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z0-9_$]*)', name)
    return [(quoted.replace('""', '"') or bare).lower() for quoted, bare in found]


def query_names_table(query: str, table: str) -> bool:
    """Whether `query` names the table `table` (`name` or `schema.name`) anywhere outside its comments and strings:
    a name whose last part is the table's, with the same schema where both give one, not called as a function.
    Conservative, like query_problem: a column spelt as the table is taken for it."""
    want = _parts(table)
    text = _NOT_NAMES.sub(" ", query)
    for m in _NAME.finditer(text):
        if text[m.end() :].lstrip().startswith("("):
            continue  # a function, e.g. read_parquet(...)
        got = _parts(m.group(0))
        if got[-1] != want[-1]:
            continue
        if len(got) == 1 or len(want) == 1 or got[-2] == want[-2]:
            return True
    return False


def quote(name: str) -> str:
    """An identifier in double quotes (a quote inside doubled): a column name is never read as SQL."""
    return '"' + name.replace('"', '""') + '"'


def quote_table(table: str) -> str:
    """A `name` or `schema.name` quoted part by part."""
    return ".".join(quote(part) for part in table.split("."))


def from_clause(table: str | None, query: str | None) -> str:
    """The source as a FROM item: the quoted table, or the query as a subquery."""
    if table:
        return quote_table(table)
    body = (query or "").strip().rstrip(";").rstrip()
    return f"({body}) AS src"


@dataclass(frozen=True)
class Statement:
    """One read: the SQL text, its bound parameters in order ($1, $2, ...)."""

    sql: str
    params: tuple[datetime, ...] = ()


def probe(table: str | None, query: str | None) -> Statement:
    """The statement that reads the source's columns and their types, and no row."""
    return Statement(f"SELECT * FROM {from_clause(table, query)} LIMIT 0")


def select(
    table: str | None,
    query: str | None,
    columns: list[str] | None = None,
    time_column: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> Statement:
    """The statement reading `columns` (None: all) of the source, rows with start <= time_column < end (each bound
    optional, each a parameter), at most `limit` rows."""
    picked = ", ".join(quote(c) for c in columns) if columns else "*"
    sql = f"SELECT {picked} FROM {from_clause(table, query)}"
    terms, params = [], []
    if time_column is not None:
        for bound, op in ((start, ">="), (end, "<")):
            if bound is not None:
                params.append(bound)
                terms.append(f"{quote(time_column)} {op} ${len(params)}")
    if terms:
        sql += " WHERE " + " AND ".join(terms)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return Statement(sql, tuple(params))
