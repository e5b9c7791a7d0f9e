"""`mlops deploy --check` and `--write`: prefect.yaml is generated from the specs (mlops/cli/prefect_yaml.py).

The check is that every spec under deployments/ is valid (as `mlops validate` checks it, schedules included) and
that prefect.yaml is exactly what they generate; `--write` writes it. Neither imports a flow module or reaches a
server, so a mistake is caught before a deploy half-succeeds.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlops.cli.errors import UsageError
from mlops.cli.prefect_yaml import POOL, PREFECT_FILE, WRITE, Deployment, deployments, render, spec_files
from mlops.errors import Problem

if TYPE_CHECKING:
    from mlops.spec import LoadedSpec

CheckSpec = Callable[[Path], "tuple[LoadedSpec | None, list[Problem]]"]


@dataclass
class DeploymentInfo:
    """One deployment as the specs generate it, for the summary table."""

    name: str
    flow: str
    spec_path: str | None
    pool: str | None
    schedules: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    project: Path
    deployments: list[DeploymentInfo]
    problems: list[Problem]
    diff: str = ""  # the generated file against the one on disk, when they differ


def find_project(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the current folder) holding prefect.yaml or deployments/."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PREFECT_FILE).is_file() or (folder / "deployments").is_dir():
            return folder
    raise UsageError(
        f"no {PREFECT_FILE} or deployments/ folder in {here} or above it: run this command from the project "
        f"folder (the one with deployments/ and flows/)."
    )


def generate(project: Path, check_spec: CheckSpec | None = None) -> tuple[str, CheckReport]:
    """The prefect.yaml the specs generate, and every spec problem at once. `check_spec` is injectable so tests
    of the wiring need no data."""
    # the default check has checked each spec's schedules (remembered: no Prefect import then)
    checked = check_spec is None
    if check_spec is None:
        from mlops.cli.checks import check_spec as default_check_spec

        check_spec = default_check_spec
    items: list[Deployment] = []
    problems: list[Problem] = []
    files = spec_files(project)
    if not files:
        problems.append(
            Problem("deployments/", "", "no spec files", "add one, e.g. deployments/NAME.yaml (`mlops init`)")
        )
    owners: dict[str, str] = {}
    for path in files:
        rel = path.relative_to(project).as_posix()
        loaded, found = check_spec(path)
        problems += [Problem(rel, p.path, p.message, p.hint) for p in found]
        if loaded is None:
            continue
        name = loaded.spec.name
        if name in owners:
            problems.append(
                Problem(
                    rel, "name", f"'{name}' is also the name of {owners[name]}", "give each spec its own name"
                )
            )
            continue
        owners[name] = rel
        made, bad = deployments(rel, loaded.spec, checked)
        items += made
        problems += bad
    infos = [_info(d) for d in items]
    return render(items), CheckReport(project, infos, problems)


def check_project(project: Path, check_spec: CheckSpec | None = None) -> CheckReport:
    """The specs checked, and prefect.yaml compared with what they generate."""
    text, report = generate(project, check_spec)
    if report.problems:
        return report
    file = project / PREFECT_FILE
    current = file.read_text(encoding="utf-8") if file.is_file() else None
    if current == text:
        return report
    if current is None:
        report.problems.append(Problem(PREFECT_FILE, "", "no such file", f"generate it with `{WRITE}`"))
        return report
    report.diff = "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True),
            f"{PREFECT_FILE} (on disk)", f"{PREFECT_FILE} (generated from the specs)",
        )
    )  # fmt: skip
    missing = sorted({i.spec_path or "" for i in report.deployments if i.name not in _names(current)} - {""})
    what = (
        f"has no deployments for {', '.join(missing)} (a spec added or renamed since the file was generated)"
        if missing
        else "differs from what the specs generate (edited by hand, or a spec's schedule changed since)"
    )
    report.problems.append(
        Problem(
            PREFECT_FILE, "", f"{what}; the difference is above",
            f"run `{WRITE}` to regenerate it, and make lasting changes in the specs' `schedule:` sections "
            "(docs/prefect.md), never in prefect.yaml",
        )
    )  # fmt: skip
    return report


def write_project(project: Path, check_spec: CheckSpec | None = None) -> CheckReport:
    """Write prefect.yaml from the specs; nothing is written when a spec has a problem. The file is replaced
    whole (written beside it, then renamed), so it is never half-written."""
    text, report = generate(project, check_spec)
    if report.problems:
        return report
    file = project / PREFECT_FILE
    tmp = file.with_name(f".{PREFECT_FILE}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, file)
    return report


def _names(text: str) -> set[str]:
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()
    found = raw.get("deployments") if isinstance(raw, dict) else None
    return {str(d.get("name")) for d in found if isinstance(d, dict)} if isinstance(found, list) else set()


def _info(d: Deployment) -> DeploymentInfo:
    triggers = (
        [f"mlops.drift.detected ({d.fields['name'].removesuffix('-retrain')})"] if d.flow == "retrain" else []
    )
    return DeploymentInfo(
        name=d.fields["name"], flow=d.flow, spec_path=d.fields["parameters"]["spec_path"], pool=POOL,
        schedules=d.schedules, triggers=triggers,
    )  # fmt: skip
