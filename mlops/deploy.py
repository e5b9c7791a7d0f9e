"""Deployments on a Prefect server: check prefect.yaml before anything is deployed, run the whole scheduled
system locally (`mlops serve`), and start a deployment's run from the CLI (`mlops trigger`).

prefect.yaml owns WHEN and WHERE (schedules, triggers, work pools); the specs own WHAT. The check reads both
without importing a flow module or reaching a server, so a typo is caught before a deploy half-succeeds.
Prefect is imported inside the functions that need it.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlops.errors import MlopsError, Problem
from mlops.spec import did_you_mean, project_root

if TYPE_CHECKING:
    from mlops.spec import LoadedSpec

PREFECT_FILE = "prefect.yaml"
PIPELINE_RESOURCE = "mlops.pipeline."  # + spec name: the resource drift events are about (tasks/events.py)
SCHEDULE_KEYS = (
    "cron", "interval", "rrule", "timezone", "anchor_date", "active", "parameters", "slug", "replaces", "day_or",
)  # fmt: skip
COLLISION_STRATEGIES = ("ENQUEUE", "CANCEL_NEW")
FINAL_OK = "COMPLETED"
QUIET_CHILD_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here, and no reason to phone home
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "TQDM_DISABLE": "1",
}


class UsageError(MlopsError):
    """The command cannot start as asked (no prefect.yaml, no server configured, no such deployment)."""

    exit_code = 2


class ServeError(MlopsError):
    """A server, worker or deploy step failed; the message says which and where its log is."""

    exit_code = 1


# --- the check -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowSignature:
    """What a flow function accepts, read from its source with ast (the module is never imported)."""

    name: str
    params: dict[str, str | None]  # name -> annotation source ("str | None"), None when unannotated
    required: frozenset[str]
    var_keyword: bool


@dataclass
class DeploymentInfo:
    """One deployment as prefect.yaml declares it, for the summary table."""

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


def find_project(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the current folder) holding prefect.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PREFECT_FILE).is_file():
            return folder
    raise UsageError(
        f"no {PREFECT_FILE} in {here} or above it: run this command from the project folder (the one with "
        f"prefect.yaml, deployments/ and flows/)."
    )


def check_project(
    project: Path, check_spec: Callable[[Path], tuple[LoadedSpec | None, list[Problem]]] | None = None
) -> CheckReport:
    """Check every deployment in `project`/prefect.yaml and report every problem at once.

    Entrypoints (file, @flow function, its parameters), spec_path (the file and the spec itself, with the same
    checks as `mlops validate`), schedules (cron, interval, rrule, timezone), triggers (event names, the
    pipeline resource they watch, templated parameters) and the work pool. `check_spec` is injectable so tests
    of the wiring need no data."""
    if check_spec is None:
        from mlops.checks import check_spec as default_check_spec

        check_spec = default_check_spec
    file = project / PREFECT_FILE
    shown = PREFECT_FILE
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return CheckReport(project, [], [Problem(shown, "", "no such file", f"create it in {project}")])
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return CheckReport(project, [], [Problem(shown, "", f"not valid YAML: {where}{what}")])
    if not isinstance(raw, dict):
        return CheckReport(project, [], [Problem(shown, "", "expected a mapping with a `deployments:` list")])
    deployments = raw.get("deployments")
    if not isinstance(deployments, list) or not deployments:
        return CheckReport(
            project,
            [],
            [Problem(shown, "deployments", "no deployments declared", "add a `deployments:` list")],
        )
    checker = _Checker(project, shown, check_spec)
    infos = [checker.deployment(i, d) for i, d in enumerate(deployments)]
    return CheckReport(project, [i for i in infos if i is not None], checker.problems)


class _Checker:
    def __init__(
        self, project: Path, file: str, check_spec: Callable[[Path], tuple[Any, list[Problem]]]
    ) -> None:
        self.project, self.file, self.check_spec = project, file, check_spec
        self.problems: list[Problem] = []
        self.names: set[str] = set()
        self.specs: dict[Path, tuple[Any, list[Problem]]] = {}
        self.flows: dict[str, tuple[FlowSignature | None, str | None]] = {}

    def add(self, where: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.file, where, message, hint))

    def deployment(self, index: int, d: Any) -> DeploymentInfo | None:
        if not isinstance(d, dict):
            self.add(f"deployments[{index}]", "expected a mapping (name, entrypoint, parameters, ...)")
            return None
        name = d.get("name")
        where = f"deployment '{name}'" if isinstance(name, str) and name else f"deployments[{index}]"
        if not isinstance(name, str) or not name:
            self.add(where, "no name", "give each deployment a unique `name:`")
        elif name in self.names:
            self.add(where, "the name is used twice", "deployment names must be unique")
        else:
            self.names.add(name)

        flow = self.entrypoint(where, d.get("entrypoint"))
        params = d.get("parameters") or {}
        if not isinstance(params, dict):
            self.add(f"{where}: parameters", "expected a mapping of flow parameters")
            params = {}
        if flow:
            self.parameters(f"{where}: parameters", flow, params, complete=True)
        spec_name = self.spec(where, flow, params.get("spec_path"))
        schedules = self.schedules(where, d.get("schedules"), flow)
        triggers = self.triggers(where, d.get("triggers"), flow, spec_name)
        pool = self.work_pool(where, d.get("work_pool"))
        self.concurrency(where, d.get("concurrency_limit"))
        return DeploymentInfo(
            name=str(name or where), flow=flow.name if flow else "?",
            spec_path=params.get("spec_path") if isinstance(params.get("spec_path"), str) else None,
            pool=pool, schedules=schedules, triggers=triggers,
        )  # fmt: skip

    # entrypoint -------------------------------------------------------------------------------------------

    def entrypoint(self, where: str, entrypoint: Any) -> FlowSignature | None:
        hint = "write it as path/to/file.py:flow_function, e.g. flows/retrain.py:retrain"
        if not isinstance(entrypoint, str) or ":" not in entrypoint:
            self.add(f"{where}: entrypoint", f"expected 'file.py:function', got {entrypoint!r}", hint)
            return None
        if entrypoint not in self.flows:
            self.flows[entrypoint] = self._read_flow(entrypoint)
        flow, error = self.flows[entrypoint]
        if error:
            self.add(f"{where}: entrypoint", error)
        return flow

    def _read_flow(self, entrypoint: str) -> tuple[FlowSignature | None, str | None]:
        path_text, _, func = entrypoint.rpartition(":")
        path = self.project / path_text
        if not path.is_file():
            known = [str(p.relative_to(self.project)) for p in sorted(self.project.glob("flows/*.py"))]
            guess = did_you_mean(path_text, known)
            hint = f"; did you mean '{guess}'?" if guess else f" (paths are relative to {self.project})"
            return None, f"'{path_text}' does not exist{hint}"
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            return None, f"'{path_text}' does not parse: line {exc.lineno}: {exc.msg}"
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        flows = [n for n, node in functions.items() if _is_flow(node)]
        node = functions.get(func)
        if node is None:
            guess = did_you_mean(func, flows or list(functions))
            hint = (
                f"; did you mean '{guess}'?"
                if guess
                else (f"; its flows: {', '.join(flows)}" if flows else "")
            )
            return None, f"'{path_text}' defines no function '{func}'{hint}"
        if not _is_flow(node):
            return None, f"'{func}' in '{path_text}' is not decorated with @flow"
        return _signature(node), None

    def parameters(
        self, where: str, flow: FlowSignature, params: dict[str, Any], complete: bool = False
    ) -> None:
        """Unknown names and values of the wrong type; with `complete`, also required parameters left out."""
        for key, value in params.items():
            if key not in flow.params:
                if flow.var_keyword:
                    continue
                guess = did_you_mean(str(key), list(flow.params))
                hint = (
                    f"did you mean '{guess}'?" if guess else f"{flow.name}() takes: {', '.join(flow.params)}"
                )
                self.add(f"{where}.{key}", f"not a parameter of {flow.name}()", hint)
                continue
            expected = _type_mismatch(value, flow.params[key])
            if expected:
                self.add(f"{where}.{key}", f"{value!r} is not {expected}")
        if complete:
            for key in sorted(flow.required - set(params)):
                self.add(where, f"{flow.name}() needs '{key}', and it has no default", f"add `{key}: ...`")

    # spec ---------------------------------------------------------------------------------------------------

    def spec(self, where: str, flow: FlowSignature | None, spec_path: Any) -> str | None:
        """Check the spec the deployment runs; return its pipeline name when it loads."""
        if spec_path is None:
            if flow is None:  # with a flow, a missing required spec_path is reported with its parameters
                self.add(
                    f"{where}: parameters.spec_path",
                    "missing",
                    "point it at a spec, e.g. deployments/NAME.yaml",
                )
            return None
        if not isinstance(spec_path, str) or not spec_path:
            self.add(f"{where}: parameters.spec_path", f"expected a path, got {spec_path!r}")
            return None
        if Path(spec_path).is_absolute():
            self.add(
                f"{where}: parameters.spec_path",
                f"'{spec_path}' is absolute",
                "use a path relative to the project folder, so workers on other machines find it too",
            )
        path = self.project / spec_path
        if not path.is_file():
            known = [
                str(p.relative_to(self.project)) for p in sorted(self.project.glob("deployments/*.y*ml"))
            ]
            guess = did_you_mean(spec_path, known)
            hint = f"did you mean '{guess}'?" if guess else f"paths are relative to {self.project}"
            self.add(f"{where}: parameters.spec_path", f"'{spec_path}' does not exist", hint)
            return None
        key = path.resolve()
        if key not in self.specs:
            self.specs[key] = self.check_spec(path)
        loaded, problems = self.specs[key]
        for p in problems:
            self.add(f"{where}: parameters.spec_path", p.render().replace(str(path), spec_path))
        return loaded.spec.name if loaded is not None else None

    # schedules ----------------------------------------------------------------------------------------------

    def schedules(self, where: str, schedules: Any, flow: FlowSignature | None) -> list[str]:
        from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
        from pydantic import ValidationError

        if schedules is None:
            return []
        if not isinstance(schedules, list):
            self.add(f"{where}: schedules", "expected a list, e.g. [{cron: '0 2 * * 1', timezone: UTC}]")
            return []
        shown: list[str] = []
        for i, s in enumerate(schedules):
            at = f"{where}: schedules[{i}]"
            if not isinstance(s, dict):
                self.add(at, "expected a mapping with one of cron, interval or rrule")
                continue
            for key in s:
                if key not in SCHEDULE_KEYS:
                    guess = did_you_mean(str(key), list(SCHEDULE_KEYS))
                    self.add(f"{at}.{key}", "unknown field", f"did you mean '{guess}'?" if guess else "")
            kinds = [k for k in ("cron", "interval", "rrule") if k in s]
            if len(kinds) != 1:
                self.add(
                    at, "give exactly one of cron, interval or rrule", f"it has {', '.join(kinds) or 'none'}"
                )
                continue
            kind = kinds[0]
            fields = {
                k: v for k, v in s.items() if k in ("timezone", "anchor_date", "day_or") and v is not None
            }
            if kind != "cron":
                fields.pop("day_or", None)
            if kind == "rrule":
                fields.pop("anchor_date", None)
            model: Any = {"cron": CronSchedule, "interval": IntervalSchedule, "rrule": RRuleSchedule}[kind]
            try:
                parsed = model.model_validate({kind: s[kind], **fields})
            except ValidationError as exc:
                for e in exc.errors():
                    loc = ".".join(str(x) for x in e["loc"]) or kind
                    msg = str(e["msg"]).removeprefix("Value error, ")
                    hint = CRON_HINT if loc == "cron" else ""
                    self.add(f"{at}.{loc}", msg, hint)
                continue
            if s.get("active") is not None and not isinstance(s.get("active"), bool):
                self.add(f"{at}.active", f"expected true or false, got {s['active']!r}")
            if isinstance(s.get("parameters"), dict) and flow:
                self.parameters(f"{at}.parameters", flow, s["parameters"])
            off = "" if s.get("active", True) is not False else " (off)"
            tz = f" {s['timezone']}" if s.get("timezone") else ""
            what = (
                f"every {_duration(parsed.interval.total_seconds())}"
                if kind == "interval"
                else f"{kind} {s[kind]}"
            )
            shown.append(f"{what}{tz}{off}")
        return shown

    # triggers -----------------------------------------------------------------------------------------------

    def triggers(
        self, where: str, triggers: Any, flow: FlowSignature | None, spec_name: str | None
    ) -> list[str]:
        from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
        from pydantic import ValidationError

        from tasks.events import DRIFT_EVENT, resource_id

        if triggers is None:
            return []
        if not isinstance(triggers, list):
            self.add(f"{where}: triggers", "expected a list of triggers")
            return []
        allowed = set(DeploymentEventTrigger.model_fields)
        shown: list[str] = []
        for i, t in enumerate(triggers):
            at = f"{where}: triggers[{i}]"
            if not isinstance(t, dict):
                self.add(at, "expected a mapping (expect, match, parameters, ...)")
                continue
            if t.get("type", "event") != "event":
                self.add(f"{at}.type", f"'{t.get('type')}' triggers are not checked here", "use type: event")
                continue
            for key in t:
                if key not in allowed:
                    guess = did_you_mean(str(key), sorted(allowed))
                    self.add(f"{at}.{key}", "unknown field", f"did you mean '{guess}'?" if guess else "")
            try:
                DeploymentEventTrigger.model_validate(t)
            except ValidationError as exc:
                for e in exc.errors():
                    loc = ".".join(str(x) for x in e["loc"])
                    self.add(f"{at}.{loc}", str(e["msg"]).removeprefix("Value error, "))
                continue
            expect = t.get("expect") or []
            expect = [expect] if isinstance(expect, str) else list(expect)
            if not expect:
                self.add(
                    f"{at}.expect",
                    "no event names: the trigger would fire on every event",
                    f"use [{DRIFT_EVENT}]",
                )
            for name in expect:
                if not _known_event(str(name), DRIFT_EVENT):
                    guess = did_you_mean(str(name), [DRIFT_EVENT])
                    hint = f"did you mean '{guess}'?" if guess else f"the pipelines emit '{DRIFT_EVENT}'"
                    self.add(f"{at}.expect", f"'{name}' is not an event anything here emits", hint)
            match = t.get("match") or {}
            watched = match.get("prefect.resource.id") if isinstance(match, dict) else None
            if DRIFT_EVENT in expect:
                wanted = resource_id(spec_name) if spec_name else None
                if not watched:
                    self.add(
                        f"{at}.match", "no prefect.resource.id: drift of any pipeline would start this run",
                        f"match {{prefect.resource.id: {wanted or PIPELINE_RESOURCE + '<spec name>'}}}",
                    )  # fmt: skip
                elif wanted and watched != wanted:
                    self.add(
                        f"{at}.match.prefect.resource.id",
                        f"'{watched}' is not this deployment's pipeline '{spec_name}'",
                        f"use '{wanted}'",
                    )
            params = t.get("parameters") or {}
            if isinstance(params, dict) and flow:
                self.parameters(
                    f"{at}.parameters", flow, {k: v for k, v in params.items() if not _templated(v)}
                )
                for key in params:
                    if key not in flow.params and not flow.var_keyword and _templated(params[key]):
                        self.add(f"{at}.parameters.{key}", f"not a parameter of {flow.name}()")
            shown.append(
                ", ".join(map(str, expect))
                + (f" ({str(watched).removeprefix(PIPELINE_RESOURCE)})" if watched else "")
            )
        return shown

    # infrastructure ---------------------------------------------------------------------------------------

    def work_pool(self, where: str, pool: Any) -> str | None:
        name = pool.get("name") if isinstance(pool, dict) else None
        if not isinstance(name, str) or not name.strip():
            self.add(
                f"{where}: work_pool.name", "no work pool named",
                "add `work_pool: {name: mlops-local}` (mlops serve creates a process pool of that name)",
            )  # fmt: skip
            return None
        return name

    def concurrency(self, where: str, limit: Any) -> None:
        if limit is None:
            return
        if isinstance(limit, dict):
            strategy = limit.get("collision_strategy")
            if strategy is not None and strategy not in COLLISION_STRATEGIES:
                guess = did_you_mean(str(strategy), list(COLLISION_STRATEGIES))
                hint = f"did you mean '{guess}'?" if guess else "use ENQUEUE or CANCEL_NEW"
                self.add(
                    f"{where}: concurrency_limit.collision_strategy", f"unknown strategy {strategy!r}", hint
                )
            limit = limit.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            self.add(f"{where}: concurrency_limit", f"expected a whole number of runs >= 1, got {limit!r}")


CRON_HINT = "five fields: minute hour day-of-month month day-of-week, e.g. '0 2 * * 1' is Mondays at 02:00"
TYPE_NAMES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "None": (type(None),),
    "dict": (dict,), "Dict": (dict,), "list": (list,), "List": (list,),
}  # fmt: skip


def _is_flow(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if (isinstance(target, ast.Name) and target.id == "flow") or (
            isinstance(target, ast.Attribute) and target.attr == "flow"
        ):
            return True
    return False


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> FlowSignature:
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    without_default = positional[: len(positional) - len(a.defaults)]
    required = {arg.arg for arg in without_default}
    required |= {arg.arg for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True) if default is None}
    params = {
        arg.arg: ast.unparse(arg.annotation) if arg.annotation else None
        for arg in [*positional, *a.kwonlyargs]
    }
    return FlowSignature(node.name, params, frozenset(required), a.kwarg is not None)


def _type_mismatch(value: Any, annotation: str | None) -> str | None:
    """A description of the expected type when `value` cannot match `annotation` (simple annotations only)."""
    if annotation is None or _templated(value):
        return None
    names = [part.strip().split("[")[0] for part in annotation.split("|")]
    if any(n not in TYPE_NAMES for n in names):
        return None  # Any, Optional[...], a model: leave it to Prefect's parameter schema
    accepted = tuple(t for n in names for t in TYPE_NAMES[n])
    ok = isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted)
    return None if ok else f"a {annotation}"


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _known_event(name: str, drift_event: str) -> bool:
    return name == drift_event or name.startswith(("prefect.", "prefect-cloud."))


# --- serve -----------------------------------------------------------------------------------------------


def api_url_for(port: int) -> str:
    return f"http://127.0.0.1:{port}/api"


def ui_url_for(api_url: str) -> str:
    return api_url.rstrip("/").removesuffix("/api")


def default_home(project: Path) -> Path:
    """MLOPS_HOME (default `<project>/.mlops`): the local MLflow store, reports, and `prefect/` for the server."""
    home = os.environ.get("MLOPS_HOME")
    return Path(home).resolve() if home else project / ".mlops"


def child_env(api_url: str | None, prefect_home: Path | None = None) -> dict[str, str]:
    """The environment of the processes we start: quiet, and pointed at our server (not the caller's)."""
    env = {**os.environ}
    for key, value in QUIET_CHILD_ENV.items():
        env.setdefault(key, value)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    if prefect_home is not None:
        env["PREFECT_HOME"] = str(prefect_home)
    if api_url is None:
        env.pop("PREFECT_API_URL", None)
    else:
        env["PREFECT_API_URL"] = api_url
    return env


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def prefect_command(*args: str) -> list[str]:
    """The `prefect` CLI of this interpreter's environment (not whatever `prefect` is first on PATH)."""
    return [sys.executable, "-m", "prefect", *args]


def start_server(port: int, prefect_home: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`prefect server start` on loopback, in its own process group (we decide when it stops), logging to a
    file so the terminal shows the worker's runs."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    log.write(f"\n--- mlops serve: prefect server start on 127.0.0.1:{port} at {time.ctime()} ---\n".encode())
    log.flush()
    try:
        return subprocess.Popen(
            prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"),
            env=server_env(port, prefect_home), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    finally:
        log.close()


def server_env(port: int, prefect_home: Path) -> dict[str, str]:
    """The server's environment. `prefect server start --port` does not tell the UI: it would call the API on
    the default port 4200 ("Can't connect to Server API"), so the UI's API URL is set to match."""
    env = child_env(None, prefect_home)
    env.update(
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=api_url_for(port),
    )
    return env


def wait_healthy(api_url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 180) -> float:
    """Seconds until the server answers /api/health; raise with the log's tail if it exits or never answers."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise ServeError(
                f"the Prefect server exited (code {proc.returncode}) before it was ready. Its log, {log_path}, ends "
                f"with:\n{tail(log_path)}"
            )
        if healthy(api_url):
            return time.monotonic() - start
        time.sleep(0.5)
    raise ServeError(
        f"the Prefect server did not answer {api_url}/health within {timeout:.0f} s; see its log {log_path}:\n"
        f"{tail(log_path)}"
    )


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def ensure_process_pools(api_url: str, names: list[str]) -> tuple[list[str], list[str]]:
    """Create each missing work pool as a process pool with Prefect's default job template.

    Returns (created, of another type): a pool of another type is left alone; its workers run its flows."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    created, other = [], []
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        for name in names:
            try:
                pool = client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=name,
                        type="process",
                        base_job_template=ProcessWorker.get_default_base_job_template(),
                        description="Runs flows as subprocesses of a worker started in the project folder.",
                    )
                )
                created.append(name)
                continue
            if pool.type != "process":
                other.append(f"{name} ({pool.type})")
    return created, other


def missing_pools(api_url: str, names: list[str]) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    missing = []
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_work_pool(name)
            except ObjectNotFound:
                missing.append(name)
    return missing


def wait_pools_ready(api_url: str, names: list[str], timeout: float = 60) -> list[str]:
    """Wait until a worker polls each pool (status READY); return the pools still not ready after `timeout`."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    waiting = list(names)
    start = time.monotonic()
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        while waiting and time.monotonic() - start < timeout:
            waiting = [n for n in waiting if not _ready(client.read_work_pool(n).status)]
            if waiting:
                time.sleep(1)
    return waiting


def _ready(status: Any) -> bool:
    return status is not None and str(getattr(status, "value", status)).upper() == "READY"


def deploy_all(project: Path, api_url: str, timeout: float = 600) -> str:
    """`prefect --no-prompt deploy --all` in the project folder against `api_url`; its output, or ServeError."""
    try:
        done = subprocess.run(
            prefect_command("--no-prompt", "deploy", "--all"), cwd=project, env=child_env(api_url),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ServeError(f"`prefect deploy --all` did not finish within {timeout:.0f} s.") from None
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        last = "\n".join(output.strip().splitlines()[-20:])
        raise ServeError(
            f"`prefect --no-prompt deploy --all` failed (exit {done.returncode}) against {api_url}. Its output "
            f"ends with:\n{last}"
        )
    return output


def start_worker(project: Path, api_url: str, pool: str) -> subprocess.Popen[bytes]:
    """A process worker for `pool`, started in the project folder (the pool's working_dir '.' is this folder).
    Its output (the flow runs' logs) goes to our terminal."""
    return subprocess.Popen(
        prefect_command("worker", "start", "--pool", pool, "--type", "process"),
        cwd=project, env=child_env(api_url), stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[Any] | None, grace: float = 30) -> int | None:
    """Ask a child to stop (SIGINT, as Ctrl-C would), wait `grace` seconds, then kill its whole process group."""
    if proc is None:
        return None
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything it left behind in its group (uvicorn, flow runs)
    return proc.returncode


def stop_all(procs: list[subprocess.Popen[Any] | None], grace: float = 30) -> None:
    """Stop the children in order (workers first, so no run starts on a dying server); a second Ctrl-C while
    waiting kills whatever is left at once rather than leaving it running."""
    try:
        for proc in procs:
            stop(proc, grace)
    except KeyboardInterrupt:
        for proc in procs:
            if proc is not None:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def interrupts() -> Iterator[None]:
    """Ctrl-C and SIGTERM (systemd, docker stop, kill) both stop `mlops serve` the same clean way.

    Installed before the children start: a shell starts background jobs with SIGINT ignored, and children
    inherit an ignored signal, while a handled one is reset to the default in them, so they stop when asked."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def deployment_rows(api_url: str) -> list[tuple[str, str, str, str]]:
    """(deployment, schedules, next run, work pool) as the server holds them; the next run is computed from the
    active schedules, so it shows before the scheduler has created the runs."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        deployments = sorted(client.read_deployments(), key=lambda d: d.name)
    rows = []
    for d in deployments:
        schedules = ", ".join(_describe_schedule(s) for s in d.schedules) or "none"
        dates = [when for s in d.schedules if s.active and (when := next_date(s.schedule)) is not None]
        rows.append(
            (
                f"{flows.get(d.flow_id, '?')}/{d.name}",
                schedules,
                min(dates).strftime("%Y-%m-%d %H:%M %Z") if dates else "-",
                d.work_pool_name or "-",
            )
        )
    return rows


def next_date(schedule: Any) -> Any:
    """The schedule's next date after now, computed as the server's scheduler does (None if it cannot be)."""
    import asyncio

    from prefect.server.schemas import schedules as server_schedules

    model = getattr(server_schedules, type(schedule).__name__, None)
    if model is None:
        return None
    try:
        dates = asyncio.run(model.model_validate(schedule.model_dump()).get_dates(n=1))
    except Exception:
        return None
    return dates[0] if dates else None


def _describe_schedule(s: Any) -> str:
    sched = s.schedule
    text = getattr(sched, "cron", None) or getattr(sched, "rrule", None)
    if text is None and getattr(sched, "interval", None) is not None:
        text = f"every {_duration(sched.interval.total_seconds())}"
    tz = getattr(sched, "timezone", None)
    return f"{text}{' ' + tz if tz else ''}{'' if s.active else ' (off)'}"


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return f"{seconds:g} s"


# --- trigger ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The deployment a `mlops trigger` starts, and where to look at it."""

    full_name: str  # flow/deployment
    deployment_id: str
    pool: str | None
    spec_path: str


def require_api_url() -> str:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        raise UsageError(
            "deployment runs live on a Prefect server and PREFECT_API_URL is not set. Start the local one with "
            "`mlops serve` (it prints the export line), or point at a shared server: "
            "export PREFECT_API_URL=http://HOST:4200/api"
        )
    return url


def find_deployment(flow_name: str, spec: Path, deployment: str | None = None) -> Target:
    """The `flow_name` deployment on the server whose spec_path parameter is `spec` (or the one named)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    api_url = require_api_url()
    wanted = spec.resolve()
    root = project_root(spec)
    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
    except Exception as exc:
        raise ServeError(
            f"cannot read deployments from the Prefect server at {api_url} ({type(exc).__name__}: {exc}). Is it "
            f"running? Start it with `mlops serve`, or fix PREFECT_API_URL."
        ) from None
    if deployment:
        found = [d for d in found if d.name == deployment]
    matches = []
    for d in found:
        sp = (d.parameters or {}).get("spec_path")
        if isinstance(sp, str) and ((root / sp).resolve() == wanted or Path(sp).resolve() == wanted):
            matches.append(d)
    if not matches:
        listed = (
            ", ".join(f"{d.name} ({(d.parameters or {}).get('spec_path', '?')})" for d in found) or "none"
        )
        named = f" named '{deployment}'" if deployment else ""
        raise UsageError(
            f"no '{flow_name}' deployment{named} on {api_url} runs {spec}; deployed {flow_name} deployments: "
            f"{listed}. Declare one in prefect.yaml and deploy it (`mlops deploy`, or restart `mlops serve`)."
        )
    if len(matches) > 1:
        names = ", ".join(d.name for d in matches)
        raise UsageError(
            f"several '{flow_name}' deployments run {spec} ({names}); pick one with --deployment NAME."
        )
    d = matches[0]
    return Target(f"{flow_name}/{d.name}", str(d.id), d.work_pool_name, str(d.parameters.get("spec_path")))


def pool_has_worker(pool: str | None) -> bool | None:
    """Whether a worker polls the pool (None when it cannot be told)."""
    if not pool:
        return None
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            status = client.read_work_pool(pool).status
    except Exception:
        return None
    return None if status is None else _ready(status)


def start_run(target: Target, parameters: dict[str, Any]) -> Any:
    """Create the flow run now (it waits for a worker); returns the FlowRun."""
    from prefect.deployments import run_deployment

    return run_deployment(name=target.full_name, parameters=parameters, timeout=0)


def flow_run_url(flow_run_id: Any) -> str:
    api = os.environ.get("PREFECT_API_URL", "")
    return f"{ui_url_for(api)}/runs/flow-run/{flow_run_id}"


def wait_for(
    flow_run_id: Any, timeout: float, on_state: Callable[[str, float], None], poll: float = 2.0
) -> Any:
    """Poll the run until it reaches a final state or `timeout` seconds pass; report each new state."""
    from prefect.client.orchestration import get_client

    start, last = time.monotonic(), ""
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            name = str(run.state.name) if run.state else "?"
            if name != last:
                on_state(name, time.monotonic() - start)
                last = name
            if run.state and run.state.is_final():
                return run
            if time.monotonic() - start > timeout:
                return run
            time.sleep(poll)


def run_artifacts(flow_run_id: Any) -> list[tuple[str, str]]:
    """(key, description or link) of a run's artifacts, for the terminal. Prefect 3.8 stores link artifacts as
    markdown `[text](url)`, so a one-link body is shown as its URL."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    out = []
    for a in sorted(artifacts, key=lambda a: a.key or ""):
        link = LINK.fullmatch(a.data.strip()) if isinstance(a.data, str) else None
        text = f"{link.group(1)}: {link.group(2)}" if link else (a.description or a.type or "")
        out.append((a.key or "-", text))
    return out


LINK = re.compile(r"\[([^\]]*)\]\((\S+)\)")
