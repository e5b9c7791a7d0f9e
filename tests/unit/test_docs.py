"""The README stays a README (under 200 lines, the CLI at a glance), and the manual in docs/ holds together: every
relative link in README.md and docs/*.md reaches a file (and a heading, by GitHub's anchor rule), and every
`mlops` command shown in a code block names a real command with options it has (issue 25, item 11)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _outside_code(text: str) -> list[str]:
    """The page's lines that are not inside a fenced code block."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def _code_lines(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in _outside_code(page.read_text()):
        heading = re.match(r"#{1,6} +(.*?) *#*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_slug_follows_githubs_rule() -> None:
    assert slug("1. On your laptop: `mlops serve`") == "1-on-your-laptop-mlops-serve"
    assert slug("The default quality floor (issue 23)") == "the-default-quality-floor-issue-23"
    assert slug("When a server does not answer") == "when-a-server-does-not-answer"


def test_the_readme_is_a_readme() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) < 200, (
        f"README.md has {len(lines)} lines: move the manual's text to docs/ (one page a topic)"
    )


def test_the_readme_links_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text()
    linked = {target.split("#")[0] for target in LINK.findall(readme)}
    missing = [
        f"docs/{p.name}" for p in sorted((REPO / "docs").glob("*.md")) if f"docs/{p.name}" not in linked
    ]
    assert not missing, f"README.md links no {missing}: add a line to its list of the manual's pages"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_reaches_a_file_and_its_heading(page: Path) -> None:
    broken = []
    for line in _outside_code(page.read_text()):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(
                    f"{target}: no file {file.relative_to(REPO) if file.is_relative_to(REPO) else file}"
                )
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{target}: no heading with that anchor in {file.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: broken links:\n" + "\n".join(broken)


def _cli() -> Any:
    """The click group behind `mlops` (typer 0.29 vendors its own click: duck-typed, a group has `commands`)."""
    from mlops.cli.main import app

    return typer.main.get_command(app)


def _leaves(group: Any, prefix: str = "mlops") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found.update(_leaves(command, f"{prefix} {name}"))
        else:
            found[f"{prefix} {name}"] = command
    return found


def test_the_readmes_cli_table_lists_every_command() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- cli:", 1)[1].split("<!-- end of cli -->", 1)[0]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `mlops")]
    listed = {name for cell in first_cells for name in re.findall(r"`(mlops [a-z ]+?)`", cell)}
    commands = set(_leaves(_cli()))
    assert listed == commands, (
        f"README.md's CLI table: missing {sorted(commands - listed)}, not commands {sorted(listed - commands)}"
    )


def test_every_mlops_command_shown_in_the_docs_exists_with_its_options() -> None:
    """A command line in a code block (`mlops ...` or `$ mlops ...`) names a command and only options it has."""
    group = _cli()
    leaves = _leaves(group)
    general = {
        o for param in group.params for o in (*param.opts, *param.secondary_opts)
    }  # mlops --verbose ...
    wrong = []
    for page in PAGES:
        for line in _code_lines(page.read_text()):
            text = line.strip().removeprefix("$ ").removeprefix(".venv/bin/")
            if not text.startswith("mlops "):
                continue
            words = [w for w in shlex.split(text.split(" #", 1)[0]) if w not in general]
            path = next(
                (p for p in sorted(leaves, key=len, reverse=True) if words[: len(p.split())] == p.split()),
                None,
            )
            if path is None:
                wrong.append(f"{page.name}: {text}: no such command")
                continue
            options = {o for param in leaves[path].params for o in (*param.opts, *param.secondary_opts)}
            for word in words[len(path.split()) :]:
                if word.startswith("--") and word.split("=")[0] not in options:
                    wrong.append(f"{page.name}: {text}: `{path}` has no option {word.split('=')[0]}")
    assert not wrong, "\n".join(wrong)
