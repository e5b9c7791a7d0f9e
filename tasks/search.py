"""Optuna: model.search's hyperparameter search. The only module that imports optuna (lazily, inside functions).

The search never sees the holdout: it is handed the fitting and validation parts cut from the training rows, and
a `Fitter` that starts one trial's fit and scores it (tasks.parallel runs each as a Prefect task run, on threads or
on the Dask cluster). Optuna only draws the values and remembers the trials, in its RDB storage
(a SQLite file in MLOPS_HOME, or MLOPS_SEARCH_STORAGE): a search killed mid-way resumes with its finished trials.

Determinism: up to `parallel` trials are fitted at once, and the draws lag the told scores by twice that. Trial n
is drawn (by a TPE sampler seeded from the search's seed and n) once trials 0..n-2*parallel are told their scores,
and no later one: scores are told in trial-number order, a fit that ends early waits for the ones before it to be
told (its result is written on its trial at once, so a resumed search does not fit it again). Trial n's values are
then a function of the seed, the data and trials 0..n-2*parallel (the later ones are seen as running: their values
are known, their scores are not), never of where or in which order the fits ended, nor of whether the search was
killed and resumed in between. A slow fit holds back only the trial 2*parallel places after it: the other threads
go on with the parallel-1 trials after it and parallel more, instead of waiting behind it.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops.errors import BadOption, DataError, MlopsError
from mlops.pruning import PruneRule, median_rule

INSTALL_HINT = (
    "model.search needs Optuna, which is not installed here: pip install -e '.[search]' (on this machine only: "
    "the Dask workers only fit), or remove model.search from the spec"
)


def installed() -> bool:
    """Whether optuna can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("optuna") is not None


if TYPE_CHECKING:
    from mlops.catalog import Direction
    from mlops.spec.schema import Pruner, Search, SearchParam


@dataclass(frozen=True)
class Trial:
    """One trial as the summary and the MLflow child run show it."""

    number: int
    params: dict[str, Any]
    value: float | None  # None: failed or pruned
    state: str  # "complete", "failed", "pruned"
    seconds: float = 0.0
    error: str = ""
    resumed: bool = False  # finished by an earlier (killed) run of the same search
    pruned_at: int | None = None  # the boosting round (0-based) where the pruner stopped it


@dataclass(frozen=True)
class Outcome:
    study: str
    metric: str
    direction: str
    best: Trial
    trials: list[Trial] = field(default_factory=list)  # in number order
    ran_on: str = ""  # "20 fits on 4 threads", "20 fits on Dask tcp://..."
    stopped_by: str = ""  # "trials" or "timeout"

    def counts(self) -> dict[str, int]:
        out = {"complete": 0, "failed": 0, "pruned": 0, "resumed": 0}
        for t in self.trials:
            out[t.state] += 1
            out["resumed"] += t.resumed
        return out

    def headline(self) -> str:
        """'20 trials (18 complete, 0 pruned, 2 failed; 6 resumed from a killed run): best #7 roc_auc 0.7123'."""
        c = self.counts()
        resumed = f"; {c['resumed']} finished by an earlier run, not redone" if c["resumed"] else ""
        return (
            f"{len(self.trials)} trials ({c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed"
            f"{resumed}): best #{self.best.number} {self.metric} {self.best.value:.4f} on validation"
        )


# What one trial's fit gives back: validation score (NaN: failed or pruned), fit seconds, error text or "", the
# validation loss round by round (boosting estimators; else empty), the round where it was pruned or None
TrialFit = tuple[float, float, str, tuple[float, ...], int | None]
# a started fit: called, it waits for the fit and gives its TrialFit
Pending = Callable[[], TrialFit]


@dataclass(frozen=True)
class Fitter:
    """Where the trials are fitted: `submit(values, rule)` starts one trial's fit (its values merged onto the spec's
    model, held to the pruning rule) and returns its Pending; `where` says where: 'on 4 threads', 'on Dask tcp://..'.
    """

    submit: Callable[[dict[str, Any], PruneRule | None], Pending]
    where: str


def study_name(pipeline: str, key: str) -> str:
    """One study per pipeline and idempotency key (spec, data, code): the same work resumes, other work starts
    afresh."""
    return f"{pipeline}-{key[:32]}"


def _distribution(p: SearchParam) -> Any:
    import optuna

    if p.type == "categorical":
        return optuna.distributions.CategoricalDistribution(list(p.choices or []))
    assert p.low is not None and p.high is not None
    if p.type == "int":
        return optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log)
    return optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)


def _sampler(seed: int, number: int) -> Any:
    """TPE seeded per trial number: a draw depends on the seed and the trials told so far, nothing else (a fresh
    process after a kill draws what the killed one would have drawn)."""
    import optuna

    return optuna.samplers.TPESampler(seed=(seed * 1_000_003 + number) % 2**32, constant_liar=True)


def run_search(
    search: Search,
    *,
    name: str,
    storage: str,
    metric: str,
    direction: Direction,
    seed: int,
    fitter: AbstractContextManager[Fitter],
    pruner: Pruner | None = None,
    lag: int | None = None,
) -> Outcome:
    """Run (or resume) the search until its budget is spent, fitting with `fitter` (entered for the search's
    length); DataError when no trial could be scored. With a `pruner`, trial n is handed the median rule
    (mlops.pruning) of the complete trials numbered up to n - lag (the ones told when it was drawn). `lag` (how
    many trials the draws run ahead of the told scores) is 2 * parallel; bench/search.py sets it to measure."""
    if not installed():
        raise BadOption(INSTALL_HINT)
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lag = lag or 2 * search.parallel
    with ExitStack() as held:
        if storage.startswith("sqlite:///"):
            held.enter_context(_study_lock(storage, name))
        trials_store = _storage(storage)
        if storage.startswith("postgresql"):
            held.enter_context(_advisory_lock(trials_store.engine, name))
        study = optuna.create_study(
            study_name=name,
            storage=trials_store,
            direction=direction,
            load_if_exists=True,
            sampler=_sampler(seed, 0),
        )
        space = {k: _distribution(p) for k, p in search.space.items()}
        before = study.get_trials(deepcopy=False)
        resumed = {t.number for t in before if t.state.is_finished()}
        deadline = time.monotonic() + search.timeout_minutes * 60 if search.timeout_minutes else math.inf
        budget = search.trials or 10**9
        stopped_by = "trials"
        flight = _Flight(held.enter_context(fitter), search.parallel)
        asked: dict[int, Any] = {}  # drawn, not yet told
        # trials a killed run asked for and never told: the ones whose fit had ended keep its result (written on
        # them when it ended); the others are fitted again with the values they were given, held to the rule they
        # had (FrozenTrial._trial_id: the one private attribute used; Optuna has no public way back to a Trial)
        stale = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
        for t in sorted(stale, key=lambda t: t.number):
            asked[t.number] = trial = optuna.trial.Trial(study, t._trial_id)
            if "fit_seconds" in t.user_attrs:
                flight.finished[t.number] = _saved_fit(t.user_attrs)
                resumed.add(t.number)
            else:
                flight.start(t.number, trial, dict(t.params), _rule(study, t.number - lag + 1, pruner))
        n = len(before)
        while n < budget:
            if time.monotonic() >= deadline:
                stopped_by = "timeout"
                break
            flight.wait_for_slot()
            # trial n is drawn seeing trials 0..n-lag told, and no later one
            _tell_through(study, asked, flight, n - lag)
            study.sampler = _sampler(seed, n)
            asked[n] = trial = study.ask(space)
            flight.start(trial.number, trial, dict(trial.params), _rule(study, n - lag + 1, pruner))
            n = trial.number + 1
        _tell_through(study, asked, flight, math.inf)
        started = flight.started
        where = f"{started} fit{'s' if started != 1 else ''} {flight.fits.where}" if started else ""
        return _outcome(study, name, metric, direction, resumed, where, stopped_by)


class _Flight:
    """The trials being fitted: at most `slots` at once. A small thread waits for each started fit and hands its
    result to the search's own thread, which alone talks to Optuna: it writes the result on the trial as soon as
    the fit ends (durable: a resumed search does not fit it again) and keeps it until its turn to be told."""

    def __init__(self, fits: Fitter, slots: int) -> None:
        self.fits = fits
        self.slots = slots
        self.started = 0
        self.running: dict[int, Any] = {}  # number -> its optuna Trial
        self.finished: dict[int, TrialFit] = {}
        self._ended: queue.Queue[tuple[int, TrialFit | BaseException]] = queue.Queue()

    def start(self, number: int, trial: Any, values: dict[str, Any], rule: PruneRule | None) -> None:
        self.wait_for_slot()
        pending = self.fits.submit(values, rule)
        self.running[number] = trial
        self.started += 1
        threading.Thread(target=self._wait, args=(number, pending), daemon=True).start()

    def _wait(self, number: int, pending: Pending) -> None:
        try:
            self._ended.put((number, pending()))
        except BaseException as exc:  # noqa: BLE001 - raised again in the search's thread
            self._ended.put((number, exc))

    def _collect(self) -> None:
        number, got = self._ended.get()
        if isinstance(got, BaseException):
            raise got
        trial = self.running.pop(number)
        value, seconds, error, curve, pruned_at = got
        trial.set_user_attr("fit_seconds", seconds)
        if not math.isnan(value):
            trial.set_user_attr("value", value)
        if curve:
            trial.set_user_attr("curve", list(curve))
        if pruned_at is not None:
            trial.set_user_attr("pruned_at", pruned_at)
        elif error or math.isnan(value):
            trial.set_user_attr("error", error or "the metric could not be computed on validation")
        self.finished[number] = got

    def wait_for_slot(self) -> None:
        while len(self.running) >= self.slots:
            self._collect()

    def result(self, number: int) -> TrialFit:
        while number not in self.finished:
            self._collect()
        return self.finished.pop(number)


def _saved_fit(attrs: dict[str, Any]) -> TrialFit:
    """The result a killed run wrote on a trial whose fit had ended, as the fit gave it."""
    return (
        float(attrs.get("value", math.nan)),
        float(attrs["fit_seconds"]),
        str(attrs.get("error", "")),
        tuple(attrs.get("curve", ())),
        attrs.get("pruned_at"),
    )


def _study_lock(storage: str, name: str) -> Any:
    """One search of a study at a time on this machine: a second retrain with the same idempotency key (the same
    work) waits, then resumes what the first finished instead of fitting the same trials beside it. A file lock
    beside the SQLite store (a shared PostgreSQL store has _advisory_lock)."""
    from pathlib import Path

    from tasks.locking import file_lock

    path = Path(storage.removeprefix("sqlite:///")).with_name(f"search-{name}.lock")
    busy = (
        f"another search of study '{name}' (the same spec, data and code) has held {path} for a day; wait for it "
        "to finish, or remove the file if no mlops process is running."
    )
    return file_lock(path, 24 * 3600, busy)


@contextmanager
def _advisory_lock(engine: Any, name: str, timeout: float = 24 * 3600, poll: float = 0.5) -> Iterator[None]:
    """One search of a study at a time on a shared PostgreSQL trial store, from any machine: a session-level
    advisory lock on the study's key, held on a connection of its own for the search's length. A second retrain of
    the same work waits, then resumes what the first finished; a killed holder's connection drops, and
    PostgreSQL releases its lock with it."""
    import hashlib

    from sqlalchemy import text

    key = int.from_bytes(
        hashlib.blake2b(f"mlops-search:{name}".encode(), digest_size=8).digest(), "big", signed=True
    )
    busy = (
        f"another search of study '{name}' (the same spec, data and code) has held its lock on the trial store "
        "(MLOPS_SEARCH_STORAGE, PostgreSQL advisory lock) for a day; wait for it to finish, or end the mlops "
        "process that runs it (its lock goes with its connection)."
    )
    connection = engine.connect()
    try:
        deadline = time.monotonic() + timeout
        while not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
            connection.rollback()
            if time.monotonic() >= deadline:
                raise MlopsError(busy)
            time.sleep(poll)
        connection.commit()  # the lock is the session's, not the transaction's: nothing is left open
        yield
    finally:
        connection.invalidate()  # closed, not pooled: the lock goes with the session
        connection.close()


def _storage(url: str) -> Any:
    """Optuna's RDB storage at `url`. A SQLite file is written in WAL mode without a sync per commit: a told trial
    then costs no disk flush (21 ms a commit on a busy disk here, ~150 commits for 12 trials), and a SIGKILLed
    process still leaves every committed trial (WAL survives a process crash; only a power cut may lose the last)."""
    import optuna

    if not url.startswith("sqlite:///"):
        from tasks.tracking.preflight import reach_database

        # a database that does not answer: one paragraph naming MLOPS_SEARCH_STORAGE, not SQLAlchemy's traceback
        reach_database(url, "MLOPS_SEARCH_STORAGE", "model search's trial store")
        from mlops.reach import pg_connect_args

        # mid-search, a database gone silent is said within the reach policy, not after libpq's unbounded wait
        engine = {"pool_pre_ping": True, "connect_args": pg_connect_args(url)}
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    from pathlib import Path

    from sqlalchemy import event

    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    def pragmas(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    storage = optuna.storages.RDBStorage(url)
    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # the connections made while creating the schema: the next ones get the pragmas
    return storage


def _rule(study: Any, first: int, pruner: Pruner | None) -> PruneRule | None:
    """The pruning rule for a trial drawn when the trials below `first` were told: from the complete ones among
    them, read from the store, so a resumed search holds a trial to the rule an uninterrupted one did."""
    import optuna

    if pruner is None:
        return None
    complete = [
        t.user_attrs.get("curve", [])
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.number < first
    ]
    return median_rule(complete, startup_trials=pruner.startup_trials, warmup_steps=pruner.warmup_steps)


def _tell_through(study: Any, asked: dict[int, Any], flight: _Flight, last: float) -> None:
    """Wait for the drawn trials numbered up to `last`, in number order, and tell the study each one's score,
    pruning or failure (what the fit gave back is already on the trial: _Flight wrote it when it ended)."""
    import optuna

    for number in sorted(k for k in asked if k <= last):
        trial = asked.pop(number)
        value, _seconds, error, _curve, pruned_at = flight.result(number)
        if pruned_at is not None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif error or math.isnan(value):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)


def _outcome(
    study: Any, name: str, metric: str, direction: str, resumed: set[int], where: str, stopped_by: str
) -> Outcome:
    import optuna

    states = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
        optuna.trial.TrialState.FAIL: "failed",
    }
    trials = [
        Trial(
            t.number,
            dict(t.params),
            t.value if t.state == optuna.trial.TrialState.COMPLETE else None,
            states.get(t.state, "failed"),
            float(t.user_attrs.get("fit_seconds", 0.0)),
            str(t.user_attrs.get("error", "")),
            t.number in resumed,
            t.user_attrs.get("pruned_at"),
        )
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    ]
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    if not complete:
        first = next((t.error for t in trials if t.error), "no trial ran")
        raise DataError(
            f"no trial of model.search could be scored on validation ({len(trials)} tried; the first error: "
            f"{first}). Check the search space against the estimator's parameters, or widen the budget."
        )
    pick = max if direction == "maximize" else min
    best = pick(complete, key=lambda t: (t.value, -t.number))  # ties: the earliest trial
    return Outcome(name, metric, direction, best, trials, where, stopped_by)


def version_tags(outcome: Outcome) -> dict[str, str]:
    """What the run and the model version carry about the search (its history is the run's search/ artifacts)."""
    import json

    return {
        "search": outcome.headline(),
        "search_best_params": json.dumps(outcome.best.params, sort_keys=True, default=str),
        "search_study": outcome.study,
    }
