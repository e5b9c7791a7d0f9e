"""Which project a command works on, found from the current folder upwards as git finds its repository, so
`cd deployments && mlops status x.yaml` reads the project's store instead of creating a new one in deployments/.

The project root is the nearest folder, at or above the current one, holding either
- `.mlops/` (the store: the project has run before, or `mlops init` made it), or
- `deployments/` together with `prefect.yaml` or `pyproject.toml` (a project checked out, not run yet).
A command given a spec works on the spec's project wherever it is run from: the root is then found from the spec's
folder upwards (`anchor_at`), and from the current folder only when the spec is in no project.
Its store is `<root>/.mlops`. `MLOPS_HOME`, when set, always wins. With neither, there is no project: commands
refuse rather than create a store in a folder that holds none (NoProject, exit 2)."""

from __future__ import annotations

from pathlib import Path

from mlops.errors import MlopsError

STORE = ".mlops"
MARKERS = ("prefect.yaml", "pyproject.toml")  # beside deployments/


class NoProject(MlopsError):
    exit_code = 2


# the project root of the spec the running command was given (anchor_at); cleared as each command starts and ends
_anchor: list[Path] = []


def anchor_at(spec: Path | None) -> None:
    """Work on `spec`'s project: its root found from the spec's folder upwards (nothing when the spec is in no
    project). None clears it."""
    _anchor.clear()
    if spec is not None:
        root = find_project_root(Path(spec).parent)
        if root is not None:
            _anchor.append(root)


def is_project_root(folder: Path) -> bool:
    if (folder / STORE).is_dir():
        return True
    return (folder / "deployments").is_dir() and any((folder / m).is_file() for m in MARKERS)


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that is a project root, or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if is_project_root(folder):
            return folder
    return None


def default_home(cwd: Path, explicit: str | None) -> Path:
    """The store a command uses: `explicit` (MLOPS_HOME) when set, else the project root's `.mlops`; NoProject
    when there is neither, naming both ways out."""
    if explicit:
        return Path(explicit).resolve()
    root = _anchor[0] if _anchor else find_project_root(cwd)
    if root is None:
        raise NoProject(
            f"{cwd.resolve()} is not inside an mlops project: neither it nor any folder above it holds {STORE}/ "
            f"or deployments/ beside prefect.yaml or pyproject.toml, and mlops does not create a store in a "
            f"folder that holds none. Run the command from your project's folder (or any folder under it), start "
            f"a project here with `mlops init DATA --target COLUMN`, or set MLOPS_HOME to the store to use "
            f"(e.g. MLOPS_HOME=$PWD/.mlops to make one here). Nothing was written."
        )
    return root / STORE
