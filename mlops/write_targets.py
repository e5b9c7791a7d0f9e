"""Where a command will write, checked before any work is done (the standard library only).

A command that writes files (predict's predictions, its rejects file, the reports folder) checks each place first:
it is not a file the run reads (the batch, the files of a batch glob or of the source dataset, the spec, the
suite: compared as resolved paths and with os.path.samefile, so a symlink or another spelling of the same file is
caught), not a folder, not under a regular file, and its folder can take a new file (a temporary file is created
and removed there: a read-only mount, /proc or /sys refuse it, even to root). A refusal names the path and the fix,
exits 2 and leaves nothing behind: the checks create nothing but that one probe, removed at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

from mlops.errors import MlopsError


class OutputRefused(MlopsError):
    """A place the command would write to cannot take the file, or holds something the run reads."""

    exit_code = 2


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of `path` (its folder, or above) that exists."""
    for parent in path.absolute().parents:
        with contextlib.suppress(OSError):  # a name too long to stat: not there
            if parent.exists():
                return parent
    return Path(path.absolute().anchor)


def _name_max(folder: Path) -> int:
    """The longest file name the folder's file system takes (255 where it does not say)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # not a POSIX system, or no such limit to read
        return 255


def _takes_new_files(folder: Path) -> OSError | None:
    """None when a new file can be created in `folder` (created and removed at once), else the OSError."""
    try:
        fd, name = tempfile.mkstemp(prefix=".mlops-probe-", suffix=".tmp", dir=folder)
    except OSError as exc:
        return exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def target_problem(label: str, path: Path, reads: Iterable[Path] = (), *, folder: bool = False) -> str | None:
    """Why `path` (named `label` in the message, e.g. "--out") cannot be written, or None. A `folder` target (a
    reports folder) must be a folder or creatable as one; a file target must not be a folder."""
    name_max = _name_max(_existing_ancestor(path))
    names = [*path.parent.parts, path.name if folder else temp_sibling(path).name]
    if any(len(n.encode()) > name_max for n in names):  # checked first: stat() on such a path raises
        return (
            f"{label} {path}: a name in it is too long for the file system (at most {name_max} bytes a name, the "
            "file's own name with the temporary name it is written under first); give a shorter one."
        )
    for read in reads:
        if _same(path, read) or (read.is_dir() and path.absolute().resolve().is_relative_to(read.resolve())):
            what = "a folder the run reads its data from" if read.is_dir() else "a file this run reads"
            within = "is inside" if read.is_dir() and not _same(path, read) else "is"
            return (
                f"{label} {path} {within} {what} ({read}); writing there would replace the input (or add to it). "
                "Give another path, e.g. a predictions/ folder beside it."
            )
    if folder:
        if path.exists() and not path.is_dir():
            return f"{label} {path} is a file, not a folder; move it away or point the setting elsewhere."
    elif path.is_dir():
        return f"{label} {path} is a folder; give a file name, e.g. {path / 'predictions.parquet'}."
    elif path.exists() and not path.is_file():
        return f"{label} {path} exists and is not a regular file (a device, a pipe, a socket?); give another path."
    start = path if folder and path.is_dir() else _existing_ancestor(path)
    if not start.is_dir():
        return (
            f"{label} {path} would be under {start}, which is a regular file, not a folder; give a path in a "
            "folder (e.g. beside it)."
        )
    refused = _takes_new_files(start)
    if refused is not None:
        reason = refused.strerror or type(refused).__name__
        return (
            f"{label} {path}: the folder {start} does not take new files ({reason}); give a path in a folder "
            "you can write to."
        )
    return None


def pattern_problem(label: str, path: Path, patterns: Iterable[str]) -> str | None:
    """Why `path` must not be written although it is no input yet: a glob the run reads its batch or source by
    matches it, so the next run would read this output as data."""
    target = PurePath(os.path.abspath(path))
    for pattern in patterns:
        if target.match(os.path.abspath(pattern)):
            return (
                f"{label} {path} matches '{pattern}', which this run reads its data from; the next run would read "
                "it back as data. Give a path outside that pattern, e.g. a predictions/ folder."
            )
    return None


def check_targets(
    files: Mapping[str, Path],
    reads: Iterable[Path] = (),
    folders: Mapping[str, Path] | None = None,
    patterns: Iterable[str] = (),
) -> None:
    """OutputRefused (exit 2) naming every place that cannot be written (files by label, e.g. {"--out": p,
    "the rejects file": r}; `folders` the same for folders to write in; `patterns` the globs the run reads data by,
    which no file may match); nothing is created."""
    read_list, globs = list(reads), list(patterns)
    problems = [
        p
        for label, path in files.items()
        if (p := target_problem(label, path, read_list) or pattern_problem(label, path, globs))
    ]
    problems += [
        p
        for label, path in (folders or {}).items()
        if (p := target_problem(label, path, read_list, folder=True))
    ]
    if problems:
        raise OutputRefused(" ".join(problems) + " Nothing was run and nothing was written.")


def batch_reads(batch: str | None) -> list[Path]:
    """The files a `--batch` names: the file, or every file its glob matches."""
    import glob

    if not batch:
        return []
    return sorted(Path(p) for p in glob.glob(batch)) if glob.has_magic(batch) else [Path(batch)]


def temp_sibling(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed into place (hidden, beside it)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_files(*paths: Path) -> Iterator[tuple[Path, ...]]:
    """Temporary files beside `paths`, renamed onto them when the block ends without an error: readers see the
    old files or the complete new ones, never a part. Whatever happens (an error in the block, a rename that
    fails), no temporary file is left behind, nor a folder this created for them."""
    tmps = tuple(temp_sibling(p) for p in paths)
    created: list[Path] = []
    done = False
    try:
        for path in paths:
            missing = [f for f in [path.parent, *path.parent.parents] if not f.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            created += reversed(missing)
        yield tmps
        for tmp, path in zip(tmps, paths, strict=True):
            os.replace(tmp, path)
        done = True
    finally:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if not done:
            for folder in reversed(created):  # the deepest first; only when still empty
                with contextlib.suppress(OSError):
                    folder.rmdir()


# --out table:NAME@ENV_VAR: the predictions written into a table of the database whose URL the variable holds
TABLE_PREFIX = "table:"
_TABLE_OUT = re.compile(
    r"^table:(?P<table>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)@(?P<env>[A-Za-z_][A-Za-z0-9_]*)$"
)
TABLE_ENGINES = ("duckdb", "postgresql")


@dataclass(frozen=True)
class TableTarget:
    """A table predictions are written into: its name, and the environment variable holding the database URL (the
    URL itself is never shown, logged or recorded)."""

    table: str
    url_env: str

    def __str__(self) -> str:
        return f"table {self.table} in ${self.url_env}"


def table_target(out: str) -> TableTarget | None:
    """The table `--out` names (`table:NAME@ENV_VAR`), None for a file; OutputRefused (exit 2) for a table
    spelled otherwise."""
    if not out.startswith(TABLE_PREFIX):
        return None
    m = _TABLE_OUT.match(out)
    if m is None:
        raise OutputRefused(
            f"--out {out}: a table is named table:NAME@ENV_VAR (e.g. table:predictions@PREDICTIONS_DB_URL): a "
            "table or schema.table of letters, digits and '_', and the environment variable holding the database "
            "URL. Nothing was run and nothing was written."
        )
    return TableTarget(m["table"], m["env"])


def engine_of(url: str) -> str:
    """`duckdb` or `postgresql` from a SQLAlchemy-style URL (`postgresql+psycopg2://...` too); '' for another."""
    scheme = url.partition(":")[0].lower().partition("+")[0]
    return "postgresql" if scheme in ("postgresql", "postgres") else ("duckdb" if scheme == "duckdb" else "")


def duckdb_file(url: str, root: Path | None = None) -> Path | None:
    """The database file of a `duckdb:///path` URL (None in memory); a relative path is read from `root` (the
    project root), for the sources and the outputs alike."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    if path in ("", ":memory:"):
        return None
    return Path(path) if root is None or Path(path).is_absolute() else Path(root) / path


def table_problem(
    target: TableTarget,
    environ: Mapping[str, str],
    sources: Iterable[tuple[str | None, ...]] = (),
    reads: Iterable[Path] = (),
    root: Path | None = None,
) -> str | None:
    """Why predictions cannot be written into `target` (None: they can): the URL variable unset, an engine other
    than DuckDB or PostgreSQL, a table a source of this run reads (`sources`: (url_env, table, query[, url]), the url a
    DuckDB URL written in the spec; the
    spec's SQL source and its labels source: by its `table:`, or named in its `query:`, a feedback loop where the
    model would train or be judged on its own predictions) or a DuckDB file the run reads (`reads`)."""
    from mlops.sql_policy import query_names_table

    url = environ.get(target.url_env, "").strip()
    if not url:
        return (
            f"--out {target}: the environment variable {target.url_env} is not set; export it with the database "
            "URL (e.g. duckdb:///predictions.duckdb, or postgresql://user@host/db)."
        )
    engine = engine_of(url)
    if not engine:
        return (
            f"--out {target}: {target.url_env} holds a URL of an engine predictions cannot be written to; give a "
            f"{' or '.join(TABLE_ENGINES)} URL."
        )
    for env, table, query, *rest in sources:
        written = rest[0] if rest else None
        same_db = env == target.url_env or (written or environ.get(env or "", "")).strip() == url
        if not same_db:
            continue
        if table and _same_table(table, target.table):
            return (
                f"--out {target} is a table this run reads its data from; writing there would add the predictions "
                "to the input. Give another table, e.g. predictions."
            )
        if query and query_names_table(query, target.table):
            return (
                f"--out {target} is a table the spec's query (in {'$' + env if env else written}) reads: the model would be trained or "
                "judged on its own predictions (a feedback loop). Write the predictions to another table, or "
                "take that table out of the query (a column spelt as the table counts too: rename it with AS in "
                "the table it comes from)."
            )
    file = duckdb_file(url, root) if engine == "duckdb" else None
    if file is not None:
        for read in reads:
            if _same(file, read):
                return (
                    f"--out {target}: {target.url_env} names a file this run reads ({read}); give a DuckDB "
                    "database file of its own."
                )
    return None


def _same_table(a: str, b: str) -> bool:
    """`name` and `schema.name` compared loosely: the same name, and the same schema where both give one."""
    pa, pb = a.lower().split("."), b.lower().split(".")
    return pa[-1] == pb[-1] and (len(pa) == 1 or len(pb) == 1 or pa[-2] == pb[-2])
