"""What a person sees of a run: Prefect artifacts in the UI and the summary the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prefect import task

from mlops.policy import Decision


@dataclass(frozen=True)
class RetrainResult:
    pipeline: str
    model_name: str
    quality: str  # one line: the gate's headline, or "no suite declared"
    quality_warning: bool
    split: str
    metric: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    champion_before: str | None
    decision: Decision
    version: str
    champion_after: str | None
    run_url: str
    version_url: str
    run_id: str
    fit_seconds: float
    notes: list[str] = field(default_factory=list)


def metric_rows(result: RetrainResult) -> list[tuple[str, str, str, str]]:
    """(metric, champion, challenger, difference) with the primary metric first."""
    names = sorted(result.challenger_metrics, key=lambda n: (n != result.metric, n))
    rows = []
    for name in names:
        new = result.challenger_metrics[name]
        old = (result.champion_metrics or {}).get(name)
        diff = "" if old is None or math.isnan(old) or math.isnan(new) else f"{new - old:+.4f}"
        rows.append((name, _num(old), _num(new), diff))
    return rows


def summary_markdown(result: RetrainResult) -> str:
    d = result.decision
    champ = f"v{result.champion_before}" if result.champion_before else "none"
    lines = [
        f"# {result.pipeline}: challenger v{result.version} **{d.verdict}**",
        "",
        f"- **Decision** ({d.rule}): " + "; ".join(d.reasons),
        f"- **Champion** before: {champ}, after: v{result.champion_after}",
        f"- **Data quality**: {result.quality}",
        f"- **Split**: {result.split}",
        f"- **MLflow**: [run]({result.run_url}) · [model version v{result.version}]({result.version_url})",
        "",
        f"| metric | champion ({champ}) | challenger (v{result.version}) | difference |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {'**' + m + '**' if m == result.metric else m} | {a} | {b} | {c} |"
        for m, a, b, c in metric_rows(result)
    ]
    lines += [f"\n> {n}" for n in result.notes]
    return "\n".join(lines)


@task(name="publish-summary")
def publish_summary(result: RetrainResult) -> None:
    """Markdown summary and links as Prefect artifacts, shown on the flow run's page in the UI."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = result.pipeline.replace("_", "-")
    create_markdown_artifact(
        key=f"{key}-retrain-summary", markdown=summary_markdown(result), description="Champion vs challenger"
    )
    create_link_artifact(key=f"{key}-mlflow-run", link=result.run_url, link_text="MLflow run")
    create_link_artifact(
        key=f"{key}-model-version",
        link=result.version_url,
        link_text=f"{result.model_name} v{result.version}",
    )


@task(name="publish-quality-stop")
def publish_quality_stop(pipeline: str, markdown: str, run_url: str | None) -> None:
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = pipeline.replace("_", "-")
    create_markdown_artifact(
        key=f"{key}-quality-gate", markdown=markdown, description="The batch failed its suite"
    )
    if run_url:
        create_link_artifact(
            key=f"{key}-quality-run", link=run_url, link_text="MLflow run of the failed gate"
        )


def _num(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"
