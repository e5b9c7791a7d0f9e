"""The front door's own failures, with their exit codes: a command that cannot start as asked (2), a server,
worker or deploy step that failed (1). The ground floor's errors are in mlops/errors.py."""

from __future__ import annotations

from mlops.errors import MlopsError


class UsageError(MlopsError):
    """The command cannot start as asked (no prefect.yaml, no server configured, no such deployment)."""

    exit_code = 2


class ServeError(MlopsError):
    """A server, worker or deploy step failed; the message says which and where its log is."""

    exit_code = 1
