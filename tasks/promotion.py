"""The promotion decision as a Prefect task; the logic itself is the pure `mlops.policy.decide`."""

from __future__ import annotations

from prefect import task

from mlops.policy import Decision, decide
from mlops.spec import Promotion
from tasks.train import ChampionScore


@task(name="decide-promotion")
def decide_promotion(challenger: dict[str, float], champion: ChampionScore, policy: Promotion) -> Decision:
    return decide(challenger, champion.metrics, policy, champion_error=champion.error)
