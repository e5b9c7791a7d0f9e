"""Whole command, fresh process (issue 15): the `mlops` commands as a user runs them, each a new process on
embedded defaults (SQLite MLflow store, no PREFECT_API_URL, no server at MLOPS_LOCAL_PREFECT), timed from the fork
to the exit (median of N), beside a bare script doing the same work, also started as a new process
(bench/bare_commands.py), and the ratio (median of the per-pair ratios when the two were run in turns).

    mlops status / history SPEC         vs the registry read with MlflowClient
    mlops validate deployments/         cold (a new MLOPS_HOME each: every check runs), warm (the validate cache
                                        hits), and after one edit (a promotion margin, a model param, the GX
                                        suite: only the checks that read it run) vs the specs' YAML, suites and
                                        estimators read by a bare script
    mlops run retrain (small example)   deployments/diabetes.yaml (442 rows, Ridge) vs the same retrain by hand:
                                        first run (a new MLOPS_HOME: the kept local Prefect server starts), later
                                        runs (the server kept running), and later runs with MLOPS_KEEP_SERVER=0
                                        (a temporary server per command, as before issue 15)
    mlops run retrain (300k rows)       the synthetic project of bench/common.py vs bare.py's retrain

Every timed retrain fits (its spec's description changes each run: a new idempotency key), on both sides. The
kept local servers are stopped at the end (`mlops server stop`).

    python bench/commands.py [--repeats 5] [--rows 300000] [--out docs/benchmarks.md]   # alone: its section
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, MLOPS, PYTHON, REPO, log, make_project, median, quiet_env, run_child  # noqa: E402

TITLE = "## Whole command, fresh process"
BARE = [PYTHON, str(BENCH / "bare_commands.py")]
SMALL = "diabetes"


def _small_project(root: Path, run: int) -> Path:
    """The small example in its own folder; the description changes per run, so every retrain fits."""
    for sub in ("deployments", "expectations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'bench-small'\n")
    shutil.copy(REPO / "expectations" / f"{SMALL}.json", root / "expectations" / f"{SMALL}.json")
    text = (REPO / "deployments" / f"{SMALL}.yaml").read_text()
    text = text.replace("\ndescription: ", f"\ndescription: (bench run {run}) ", 1)
    spec = root / "deployments" / f"{SMALL}.yaml"
    spec.write_text(text)
    return spec


def _large_spec(spec: Path, run: int) -> None:
    text = spec.read_text().split("\n")
    spec.write_text("\n".join(f"description: Synthetic benchmark data, run {run}." if line.startswith("description:")
                              else line for line in text))  # fmt: skip


EDITS = ("policy", "param", "suite")


def _validate_copy(root: Path) -> Path:
    """The examples' specs, suites and data in their own folder, as a checkout holds them, so that edits leave the
    repository alone (the DuckDB example reads data/nycflights13/ by a path relative to the project)."""
    for sub in ("deployments", "expectations", "data"):
        shutil.copytree(REPO / sub, root / sub, dirs_exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'bench-validate'\n")
    return root


def _edit(root: Path, kind: str, n: int) -> None:
    """One edit a user makes between two validates, each time a new value (so no cached part matches): the
    promotion margin (reads no data, imports no GX or scikit-learn), a model param (checked against scikit-learn),
    or the GX suite (rebuilt with GX)."""
    spec = root / "deployments" / f"{SMALL}.yaml"
    if kind == "suite":
        suite = root / "expectations" / f"{SMALL}.json"
        raw = json.loads(suite.read_text())
        raw.setdefault("meta", {})["bench_edit"] = n
        suite.write_text(json.dumps(raw, indent=2))
        return
    key = {"policy": "min_improvement", "param": "alpha"}[kind]
    lines = spec.read_text().split("\n")
    if kind == "policy":
        lines = [f"  min_improvement: {0.5 + n / 1000:.3f}" if line.startswith("  min_improvement:") else line
                 for line in lines]  # fmt: skip
    else:
        lines = [
            f"  params: {{alpha: {0.1 + n / 1000:.3f}}}" if line.startswith("  params:") else line
            for line in lines
        ]
    text = "\n".join(lines)
    if text == spec.read_text():
        raise RuntimeError(f"bench: no '{key}' line to edit in {spec}")
    spec.write_text(text)


def _run(args: list[str], env: dict[str, str], cwd: Path, what: str, ok: tuple[int, ...] = (0,)) -> Any:
    child = run_child(args, env=env, cwd=cwd, timeout=900)
    if child.returncode not in ok:
        raise RuntimeError(
            f"{what} failed ({child.returncode}):\n{child.stdout[-2000:]}\n{child.stderr[-3000:]}"
        )
    return child


def _retrain(spec: Path, env: dict[str, str], cwd: Path, kept: bool) -> float:
    child = _run([MLOPS, "run", "retrain", str(spec)], env, cwd, f"mlops run retrain {spec.name}")
    said = " ".join(child.stdout.split())
    if "not refitted" in said:
        raise RuntimeError(f"the retrain reused a training run instead of fitting:\n{child.stdout[-2000:]}")
    if kept != ("kept running" in said):
        raise RuntimeError(
            f"expected {'the kept' if kept else 'a temporary'} server:\n{child.stdout[-2000:]}"
        )
    return float(child.seconds)


def measure(
    work: Path, repeats: int = 5, rows: int = 300_000, large_repeats: int = 3, save: Any = None
) -> dict[str, Any]:
    """The figures; `save(out)` is called after each one (a long run stopped early keeps what it measured)."""
    work.mkdir(parents=True, exist_ok=True)
    client_home = work / "prefect-client"  # the commands' own PREFECT_HOME: never ~/.prefect

    def env(home: Path, keep: bool = True) -> dict[str, str]:
        return quiet_env(
            MLOPS_HOME=str(home), PREFECT_HOME=str(client_home), MLOPS_KEEP_SERVER="1" if keep else "0"
        )

    home, bare_home = work / "mlops-home", work / "bare-home"
    small = work / "project-small"
    suite = REPO / "expectations" / f"{SMALL}.json"
    out: dict[str, Any] = {"rows": rows, "repeats": repeats, "large_repeats": large_repeats, "figures": {}}
    fig = out["figures"]
    servers = [home]
    run = iter(range(1_000_000))
    try:
        log("commands: retrain, small example, first run (a new MLOPS_HOME: the local server starts)")
        spec = _small_project(small, next(run))
        fig["retrain-first"] = {
            "ours": [_retrain(spec, env(home), small, kept=True)],
            "bare": [
                _run(
                    [*BARE, "retrain-small", str(bare_home), str(suite)], env(bare_home), small, "bare"
                ).seconds
            ],
        }
        log(f"commands: retrain, small example, later runs x{repeats} (the server kept running)")
        ours, bare = [], []
        for _ in range(repeats):
            spec = _small_project(small, next(run))
            ours.append(_retrain(spec, env(home), small, kept=True))
            bare.append(
                _run(
                    [*BARE, "retrain-small", str(bare_home), str(suite)], env(bare_home), small, "bare"
                ).seconds
            )
        fig["retrain-later"] = {"ours": ours, "bare": bare, "paired": True}
        save and save(out)
        n_temp = max(1, repeats // 2)
        log(f"commands: retrain, small example, later runs x{n_temp} with MLOPS_KEEP_SERVER=0")
        # the same MLOPS_HOME (its MLflow store and validate cache), the kept server left unused
        fig["retrain-temporary"] = {
            "ours": [_retrain(_small_project(small, next(run)), env(home, keep=False), small, kept=False)
                     for _ in range(n_temp)],
            "bare": bare,
        }  # fmt: skip
        save and save(out)
        for name in ("status", "history"):
            log(f"commands: mlops {name} x{repeats}")
            fig[name] = {"ours": [], "bare": [], "paired": True}
            for _ in range(repeats):
                fig[name]["ours"].append(
                    _run([MLOPS, name, str(spec)], env(home), small, f"mlops {name}").seconds
                )
                fig[name]["bare"].append(_run([*BARE, "registry", str(home), "diabetes-progression"], env(home),
                                              small, "bare registry").seconds)  # fmt: skip
            save and save(out)
        log(f"commands: mlops validate deployments/ x{repeats}, cold and warm")
        bare_specs = [_run([*BARE, "specs", "deployments"], env(home), REPO, "bare specs").seconds
                      for _ in range(repeats)]  # fmt: skip
        fig["validate-cold"] = {
            "ours": [_run([MLOPS, "validate", "deployments/"], env(work / f"validate-{i}"), REPO, "validate").seconds
                     for i in range(max(1, repeats - 2))],
            "bare": bare_specs,
        }  # fmt: skip
        _run([MLOPS, "validate", "deployments/"], env(home), REPO, "validate")  # fills the cache
        fig["validate-warm"] = {
            "ours": [_run([MLOPS, "validate", "deployments/"], env(home), REPO, "validate").seconds
                     for _ in range(repeats)],
            "bare": bare_specs,
        }  # fmt: skip
        save and save(out)
        log(f"commands: mlops validate deployments/ after an edit x{repeats}: policy, model param, suite")
        edited = _validate_copy(work / "validate-edit")
        _run([MLOPS, "validate", "deployments/"], env(home), edited, "validate")  # fills the copy's cache
        for kind in EDITS:
            times = []
            for i in range(repeats):
                _edit(edited, kind, next(run) + i)
                times.append(_run([MLOPS, "validate", "deployments/"], env(home), edited, "validate").seconds)
            fig[f"validate-{kind}"] = {"ours": times, "bare": bare_specs}
        save and save(out)
        log(f"commands: retrain, {rows:,} rows x{large_repeats}, in turns")
        # both sides in their existing stores; the first of each registers the model's first version (no champion
        # to score), the later ones score the champion too
        project = make_project(work / "project-large", rows)
        large_bare = bare_home
        ours, bare = [], []
        for _ in range(large_repeats):
            _large_spec(project.spec, next(run))
            ours.append(_retrain(project.spec, env(home), project.root, kept=True))
            bare.append(_run([*BARE, "retrain-large", str(project.root), str(large_bare)], env(large_bare),
                             project.root, "bare").seconds)  # fmt: skip
            fig["retrain-large"] = {"ours": ours, "bare": bare, "paired": True}
            save and save(out)
    finally:
        for h in servers:
            run_child([MLOPS, "server", "stop", "--quiet"], env=env(h), cwd=REPO)
    return out


# --- the section ------------------------------------------------------------------------------------------------

ROWS = (  # key, label, aim in seconds (or None), aim as a ratio to bare (or None)
    ("status", "`mlops status SPEC` (a champion, a few versions)", 1.0, None),
    ("history", "`mlops history SPEC`", 1.0, None),
    ("validate-cold", "`mlops validate deployments/`, cold (a new MLOPS_HOME: every check runs)", 2.0, None),
    ("validate-warm", "`mlops validate deployments/`, warm (the validate cache hits)", 2.0, None),
    ("validate-policy", "`mlops validate deployments/` after a promotion margin edit (no data, GX or "
                        "scikit-learn needed)", 2.0, None),
    ("validate-param", "`mlops validate deployments/` after a model param edit (checked against scikit-learn)", 2.0,
     None),
    ("validate-suite", "`mlops validate deployments/` after a GX suite edit (rebuilt with GX)", 2.0, None),
    ("retrain-first", "`mlops run retrain` small example, first run (a new MLOPS_HOME: the local Prefect server "
                      "starts, a new MLflow store)", 10.0, None),
    ("retrain-later", "`mlops run retrain` small example, later runs (the local server kept running)", 5.0, 1.5),
    ("retrain-temporary", "`mlops run retrain` small example, later runs with MLOPS_KEEP_SERVER=0 (a temporary "
                          "server per command)", None, None),
    ("retrain-large", "`mlops run retrain`, {rows} rows x 25 columns, later runs", None, 1.15),
)  # fmt: skip
BASELINE = {
    "status": "registry read (MlflowClient)",
    "history": "registry read (MlflowClient)",
    "validate-cold": "specs, suites, estimators read",
    "validate-warm": "specs, suites, estimators read",
    "validate-policy": "specs, suites, estimators read",
    "validate-param": "specs, suites, estimators read",
    "validate-suite": "specs, suites, estimators read",
    "retrain-first": "the same retrain by hand, new store",
    "retrain-later": "the same retrain by hand",
    "retrain-temporary": "the same retrain by hand",
    "retrain-large": "bare.py's retrain",
}


def _ratio(f: dict[str, Any]) -> float:
    if f.get("paired"):
        return median([a / b for a, b in zip(f["ours"], f["bare"], strict=False)])
    return median(f["ours"]) / median(f["bare"])


def section(res: dict[str, Any], meta: str = "") -> str:
    lines = [
        TITLE,
        "",
        "Each `mlops` command as a user runs it: a new process on embedded defaults (SQLite MLflow store, no "
        "PREFECT_API_URL), timed from the fork to the exit, median of N; beside it a plain script doing the same "
        "work, also a new process (`bench/bare_commands.py`), and the ratio (median of per-pair ratios when the "
        "two ran in turns). Every timed retrain fits, on both sides. The data do not change between runs, so "
        "after the first run of each example ours reuses the gate's pass (tasks/quality_memo.py: the same data and "
        "suite passed before) and does not import GX, where the bare script runs GX every time; a retrain on new "
        "data runs the gate as the first runs do. Written by `python bench/commands.py` "
        f"(alone) or `python bench/run.py`.{(' ' + meta) if meta else ''}",
        "",
        "| command | ours | bare fresh process | ratio | aim | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    rows = f"{res.get('rows', 0):,}"
    for key, label, aim_s, aim_x in ROWS:
        f = res["figures"].get(key)
        if not f:
            continue
        ours, bare, ratio = median(f["ours"]), median(f["bare"]), _ratio(f)
        aims, met = [], []
        if aim_s is not None:
            aims.append(f"< {aim_s:g} s")
            met.append(ours < aim_s)
        if aim_x is not None:
            aims.append(f"≤ {aim_x:g}x")
            met.append(ratio <= aim_x)
        verdict = "(info)" if not met else "yes" if all(met) else "**no**"
        lines.append(
            f"| {label.format(rows=rows)} (n={len(f['ours'])}) | {ours:.2f} s | {bare:.2f} s "
            f"({BASELINE[key]}) | {ratio:.2f}x | {', '.join(aims) or '(info)'} | {verdict} |"
        )
    later, temp = res["figures"].get("retrain-later"), res["figures"].get("retrain-temporary")
    if later and temp:
        a, b = median(later["ours"]), median(temp["ours"])
        lines += [
            "",
            f"The kept local Prefect server (mlops/cli/local_server.py) against a temporary server per command, the "
            f"same small retrain: {a:.2f} s against {b:.2f} s, {b - a:.1f} s less a run here. The first run pays for "
            "starting it (a new Prefect database) once; it runs until `mlops server stop` (there is no idle "
            "stop). The servers measured here were the benchmark's own, each under its own MLOPS_HOME, stopped "
            "at the end.",
        ]
    return "\n".join(lines) + "\n"


def update_doc(path: Path, text: str) -> None:
    """Put the section in place in docs/benchmarks.md (replacing an earlier one; else before '## Details')."""
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    if TITLE in doc:
        start = doc.index(TITLE)
        nxt = doc.find("\n## ", start + len(TITLE))
        doc = doc[:start] + text + ("\n" + doc[nxt + 1 :] if nxt != -1 else "")
    elif "\n## Details" in doc:
        at = doc.index("\n## Details") + 1
        doc = doc[:at] + text + "\n" + doc[at:]
    else:
        doc = doc.rstrip() + "\n\n" + text
    path.write_text(doc)


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in __import__("os").getloadavg())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--large-repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true")
    a = parser.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` then stops the kept servers
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-commands-"))
    load_start, started = loadavg(), time.perf_counter()
    try:
        save = (lambda r: Path(a.json).write_text(json.dumps(r, indent=1))) if a.json else None
        res = measure(work, a.repeats, a.rows, a.large_repeats, save)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1))
        meta = (
            f"This section alone, {time.strftime('%Y-%m-%d %H:%M %Z')}, {(time.perf_counter() - started) / 60:.1f} "
            f"min; load average (1/5/15 min) {load_start} at the start, {loadavg()} at the end (2 cores shared "
            "with other work: the figures are noisy, both sides alike)."
        )
        text = section(res, meta)
        print(text)
        update_doc(Path(a.out), text)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
