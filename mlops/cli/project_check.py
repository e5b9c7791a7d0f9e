"""`mlops deploy --check`: every deployment in prefect.yaml checked before anything is deployed.

prefect.yaml owns WHEN and WHERE (schedules, triggers, work pools); the specs own WHAT. The check reads both
without importing a flow module or reaching a server, so a typo is caught before a deploy half-succeeds.
Prefect's schedule and trigger models are imported inside the methods that use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlops.cli.errors import UsageError
from mlops.cli.flow_source import FlowSignature, read_flow, templated, type_mismatch
from mlops.errors import Problem
from mlops.text import did_you_mean, yaml_error

if TYPE_CHECKING:
    from mlops.spec import LoadedSpec

PREFECT_FILE = "prefect.yaml"
PIPELINE_RESOURCE = "mlops.pipeline."  # + spec name: the resource drift events are about (tasks/events.py)
SCHEDULE_KEYS = (
    "cron", "interval", "rrule", "timezone", "anchor_date", "active", "parameters", "slug", "replaces", "day_or",
)  # fmt: skip
COLLISION_STRATEGIES = ("ENQUEUE", "CANCEL_NEW")


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
        from mlops.cli.checks import check_spec as default_check_spec

        check_spec = default_check_spec
    file = project / PREFECT_FILE
    shown = PREFECT_FILE
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return CheckReport(project, [], [Problem(shown, "", "no such file", f"create it in {project}")])
    except yaml.YAMLError as exc:
        where, what = yaml_error(exc)
        where = f"{where}: " if where else ""
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
            self.flows[entrypoint] = read_flow(self.project, entrypoint)
        flow, error = self.flows[entrypoint]
        if error:
            self.add(f"{where}: entrypoint", error)
        return flow

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
            expected = type_mismatch(value, flow.params[key])
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
                f"every {duration(parsed.interval.total_seconds())}"
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
                    f"{at}.parameters", flow, {k: v for k, v in params.items() if not templated(v)}
                )
                for key in params:
                    if key not in flow.params and not flow.var_keyword and templated(params[key]):
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


def _known_event(name: str, drift_event: str) -> bool:
    return name == drift_event or name.startswith(("prefect.", "prefect-cloud."))


def duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return f"{seconds:g} s"
