"""Errors meant for people: each carries its message and the CLI exit code it maps to."""

from __future__ import annotations

from dataclasses import dataclass, field


class MlopsError(Exception):
    """Base class: a one-paragraph message, no traceback for the user."""

    exit_code = 1


class SpecError(MlopsError):
    """The spec, or something it points at, is wrong. Fix the file and run again."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class BadOption(MlopsError):
    """An option or flow parameter that cannot work (a name that is not a feature, ...): a usage error."""

    exit_code = 2


class PipelineStopped(MlopsError):
    """The pipeline ran and stopped on purpose (a quality gate, unusable data)."""

    exit_code = 1


class QualityGateFailed(PipelineStopped):
    def __init__(
        self,
        message: str,
        report_path: str | None = None,
        rows: int | None = None,
        failures: list[str] | None = None,
    ):
        self.report_path = report_path
        self.rows = rows  # the rows the suite was checked on
        self.failures = failures or []  # one line per failed expectation
        super().__init__(message)


class DataError(PipelineStopped):
    """The data loaded, but cannot be used for this spec (empty, one class, ...)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where, what, and how to fix it."""

    file: str
    path: str
    message: str
    hint: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        text = f"{where}: {self.message}"
        return f"{text}; {self.hint}" if self.hint else text


class NoChampion(PipelineStopped):
    """Monitoring needs a champion to judge; there is none until a first retrain."""
