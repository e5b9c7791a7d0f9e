"""The model's ledger: every promotion, rejection, rollback and approval as a run in the MLflow experiment
`mlops-ledger-<model>`, so "what was in production when, and why?" is answered from MLflow alone."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.tracking.store import TAG, client, experiment_id

if TYPE_CHECKING:
    from mlops.policy import Decision

LEDGER_PREFIX = "mlops-ledger-"


@dataclass(frozen=True)
class LedgerEntry:
    at: str
    action: str  # promote | reject | dry-run | rollback | approval | smoke-test-rollback
    version: str
    champion_before: str
    champion_after: str
    actor: str
    rule: str
    reasons: list[str]
    run_id: str


def decision_evidence(decision: Decision, run_id: str) -> dict[str, Any]:
    """The decision and what it rests on, as JSON for the ledger."""
    from dataclasses import asdict

    data = asdict(decision)
    data["training_run_id"] = run_id
    return json.loads(json.dumps(data, default=str))


def record(
    model_name: str,
    action: str,
    *,
    version: str | None,
    champion_before: str | None,
    champion_after: str | None,
    actor: str,
    rule: str,
    reasons: list[str],
    evidence: dict[str, Any],
) -> str:
    """Append an entry to the model's ledger: one MLflow run in the experiment `mlops-ledger-<model>`, so the
    history of what was in production when, and why, lives in MLflow next to the models."""
    c = client()
    name = f"{LEDGER_PREFIX}{model_name}"
    exp = c.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else experiment_id(name)
    tags = {
        f"{TAG}ledger.action": action, f"{TAG}ledger.version": version or "",
        f"{TAG}ledger.champion_before": champion_before or "", f"{TAG}ledger.champion_after": champion_after or "",
        f"{TAG}ledger.actor": actor, f"{TAG}ledger.rule": rule, f"{TAG}ledger.reasons": "\n".join(reasons)[:5000],
        f"{TAG}ledger.at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    run = c.create_run(exp_id, run_name=f"{action}-v{version or '-'}", tags=tags)
    c.log_dict(run.info.run_id, evidence, "evidence.json")
    c.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def history(model_name: str) -> list[LedgerEntry]:
    """Every ledger entry of the model, oldest first."""
    c = client()
    exp = c.get_experiment_by_name(f"{LEDGER_PREFIX}{model_name}")
    if exp is None:
        return []
    runs = c.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=10_000)
    out = []
    for r in runs:
        t = r.data.tags
        out.append(
            LedgerEntry(
                at=t.get(f"{TAG}ledger.at", ""),
                action=t.get(f"{TAG}ledger.action", ""),
                version=t.get(f"{TAG}ledger.version", ""),
                champion_before=t.get(f"{TAG}ledger.champion_before", ""),
                champion_after=t.get(f"{TAG}ledger.champion_after", ""),
                actor=t.get(f"{TAG}ledger.actor", ""),
                rule=t.get(f"{TAG}ledger.rule", ""),
                reasons=t.get(f"{TAG}ledger.reasons", "").splitlines(),
                run_id=r.info.run_id,
            )  # fmt: skip
        )
    return out
