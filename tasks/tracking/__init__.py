"""MLflow: runs, dataset lineage, the model registry and its aliases. The only package that imports mlflow.

Aliases say what is in production: `champion` (serving), `challenger` (the newest candidate) and `previous` (the
champion it replaced). Decisions are tags on the version and on its run, and entries in the model's ledger, so the
registry alone answers "why did the champion change?".

One module per concern: `store` (the client, experiments, run URLs, transient errors), `lineage` (dataset
lineage), `runs` (training, quality-gate and monitor runs), `champion` (reading what is in production),
`registry` (changing it: publish, undo, rollback), `ledger` (the history of decisions) and `state` (the drift
retrain cooldown). Importing the package imports no mlflow: each function imports it when called.
"""

from tasks.tracking.store import TrackingUnavailable, is_transient, unreachable

__all__ = ["TrackingUnavailable", "is_transient", "unreachable"]
