"""model.search: the spec's space and budget (schema), its names against the estimator's own parameters, and the
search loop itself with a plain scoring function (no Prefect): reproducible, resumable with its finished trials."""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from mlops.errors import DataError
from mlops.spec import load_spec
from mlops.spec.schema import Search
from tasks.search import Fitter, Pending, TrialFit, run_search
from tasks.train import search_problems
from tests.conftest import spec_problems, spec_text, write_spec

LOGISTIC = "sklearn.linear_model.LogisticRegression"


def _spec(tmp_path: Path, search: str, params: str = "{max_iter: 500}", extra_model: str = "") -> Path:
    text = spec_text(params=params).replace(
        "  preprocessing:", f"  search: {search}\n{extra_model}  preprocessing:"
    )
    return write_spec(tmp_path, text)


def _problems(path: Path) -> str:
    return "\n".join(spec_problems(path))


def test_a_valid_search_loads_with_its_space_and_budget(tmp_path: Path) -> None:
    path = _spec(
        tmp_path,
        "{trials: 12, seed: 5, space: {C: {type: float, low: 0.001, high: 10, log: true}, "
        "penalty: {type: categorical, choices: [l2, null]}, max_iter: {type: int, low: 100, high: 900}}}",
        params="{}",
    )
    search = load_spec(path).spec.model.search
    assert search is not None and search.trials == 12 and search.seed == 5
    assert search.space["C"].log and search.space["penalty"].choices == ["l2", None]


@pytest.mark.parametrize(
    ("space", "said"),
    [
        ("{C: {type: float, low: 10, high: 1}}", "low (10) must be below high (1)"),
        ("{C: {type: float, low: 1, high: 1}}", "a single value is not a search: put it in model.params"),
        ("{C: {type: float, low: 0, high: 1, log: true}}", "log: true needs low above 0"),
        ("{C: {type: float, low: -1, high: 1, log: true}}", "log: true needs low above 0"),
        ("{C: {type: float, low: 1}}", "needs both low and high"),
        ("{max_iter: {type: int, low: 1.5, high: 9}}", "an int parameter needs whole bounds"),
        ("{penalty: {type: categorical}}", "a categorical parameter needs choices"),
        ("{penalty: {type: categorical, choices: [l2, l2]}}", "choices repeat a value"),
        ("{penalty: {type: categorical, choices: [l2], low: 1}}", "takes choices, not low/high/log"),
        ("{C: {type: float, low: 1, high: 2, choices: [1]}}", "choices are for type: categorical"),
        ("{}", "model.search.space"),
    ],
)
def test_a_space_that_cannot_be_searched_is_refused_with_the_fix(
    tmp_path: Path, space: str, said: str
) -> None:
    text = _problems(_spec(tmp_path, f"{{trials: 5, space: {space}}}"))
    assert said in text and "model.search.space" in text


def test_a_search_without_a_budget_is_refused(tmp_path: Path) -> None:
    text = _problems(_spec(tmp_path, "{space: {C: {type: float, low: 0.1, high: 1}}}"))
    assert "a search needs a budget: set trials" in text and "timeout_minutes" in text


def test_search_and_candidates_together_are_refused(tmp_path: Path) -> None:
    text = _problems(
        _spec(
            tmp_path,
            "{trials: 5, space: {C: {type: float, low: 0.1, high: 1}}}",
            extra_model="  candidates: [{C: 0.5}]\n",
        )  # fmt: skip
    )
    assert "search and candidates both choose the model's params" in text and "remove search" in text


def test_a_param_both_fixed_and_searched_is_refused(tmp_path: Path) -> None:
    text = _problems(_spec(tmp_path, "{trials: 5, space: {C: {type: float, low: 0.1, high: 1}}}", "{C: 1.0}"))
    assert "C is both fixed in model.params and searched in model.search.space" in text


def test_an_unknown_searched_param_gets_the_estimators_closest_parameter() -> None:
    space = Search.model_validate(
        {"trials": 3, "space": {"C_": {"type": "float", "low": 0.1, "high": 1}}}
    ).space
    (problem,) = search_problems("spec.yaml", LOGISTIC, {}, space)
    assert problem.path == "model.search.space.C_"
    assert "not a parameter of LogisticRegression" in problem.message and problem.hint == "did you mean 'C'?"


def test_a_bound_or_choice_the_estimator_refuses_is_named() -> None:
    space = Search.model_validate(
        {
            "trials": 3,
            "space": {
                "C": {"type": "float", "low": -1, "high": 1},
                "solver": {"type": "categorical", "choices": ["lbfgs", "magic"]},
            },
        }  # fmt: skip
    ).space
    problems = search_problems("spec.yaml", LOGISTIC, {}, space)
    assert [p.path for p in problems] == ["model.search.space.C", "model.search.space.solver"]
    assert "-1.0 is refused by LogisticRegression" in problems[0].message
    assert "'magic' is refused" in problems[1].message


# --- the search loop, with a plain scoring function -------------------------------------------------------------

SPACE = Search.model_validate(
    {
        "trials": 12,
        "parallel": 3,
        "space": {
            "x": {"type": "float", "low": 0.001, "high": 10, "log": True},
            "n": {"type": "int", "low": 1, "high": 50},
            "kind": {"type": "categorical", "choices": ["a", "b", "c"]},
        },
    }
)


def _score(p: dict[str, Any]) -> float:
    return -((math.log10(p["x"]) - 0.3) ** 2) - abs(p["n"] - 20) / 50 + (0.1 if p["kind"] == "b" else 0)


class Scorer:
    """A Fitter for run_search: scores each trial's values as it is started, counts the fits, can wait `delay`
    seconds a fit, and can die (the process killed) on starting the fit after `die_after` of them."""

    def __init__(self, die_after: int | None = None, delay: float = 0.0) -> None:
        self.fits: list[dict[str, Any]] = []
        self.die_after = die_after
        self.delay = delay

    def submit(self, values: dict[str, Any], rule: Any = None) -> Pending:
        if self.die_after is not None and len(self.fits) == self.die_after:
            raise KeyboardInterrupt  # the process dies: the trials started and not told stay RUNNING in the store
        self.fits.append(values)
        time.sleep(self.delay)
        fit: TrialFit = (_score(values), 0.01, "", (), None)
        return lambda: fit

    def __call__(self) -> Any:
        return nullcontext(Fitter(self.submit, "on 3 threads"))


def fitting(fit: Any) -> Any:
    """A Fitter scoring each trial's values with `fit` (values -> TrialFit)."""
    return nullcontext(Fitter(lambda values, rule: lambda done=fit(values): done, "on 1 thread"))


def _run(storage: str, scorer: Scorer, name: str = "s", seed: int = 7) -> Any:
    return run_search(SPACE, name=name, storage=storage, metric="roc_auc", direction="maximize", seed=seed,
                      fitter=scorer())  # fmt: skip


def test_the_same_seed_gives_the_same_trials_and_best(tmp_path: Path) -> None:
    first = _run(f"sqlite:///{tmp_path}/a.db", Scorer())
    second = _run(f"sqlite:///{tmp_path}/b.db", Scorer())
    other = _run(f"sqlite:///{tmp_path}/c.db", Scorer(), seed=8)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert first.best == second.best and len(first.trials) == 12
    assert [t.params for t in other.trials] != [t.params for t in first.trials]
    assert first.headline().startswith("12 trials (12 complete, 0 pruned, 0 failed)")
    assert first.ran_on == "12 fits on 3 threads"


def test_a_killed_search_resumes_with_its_finished_trials_and_ends_as_if_never_killed(tmp_path: Path) -> None:
    whole = _run(f"sqlite:///{tmp_path}/whole.db", Scorer())
    storage = f"sqlite:///{tmp_path}/killed.db"
    with pytest.raises(KeyboardInterrupt):
        # 6 fits started, 3 at a time, the draws 6 trials ahead of the told scores: trial 0 told, trial 6 asked and
        # not started; of 1-5, the ones whose fits ended (at least 3: each freed a slot) have their results written
        # on them, the others were running
        _run(storage, Scorer(die_after=6))
    import optuna

    killed = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert [t.number for t in killed if t.state.is_finished()] == [0]
    ended = [
        t.number
        for t in killed
        if t.state == optuna.trial.TrialState.RUNNING and "fit_seconds" in t.user_attrs
    ]
    assert len(ended) >= 3 and 6 not in ended
    again = Scorer()
    resumed = _run(storage, again)
    # neither the told trial nor the ones whose fits had ended are fitted again; the interrupted ones are
    assert len(again.fits) == 12 - 1 - len(ended)
    done = 1 + len(ended)
    assert (
        resumed.counts()["resumed"] == done
        and f"{done} finished by an earlier run, not redone" in resumed.headline()
    )
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    assert resumed.best.params == whole.best.params


def test_the_trials_do_not_depend_on_the_order_the_fits_end_in(tmp_path: Path) -> None:
    """Fits that end in a scrambled order (each waits a seeded-random moment) draw the trials instant fits draw."""
    import random

    def submit(values: dict[str, Any], rule: Any = None) -> Pending:
        fit: TrialFit = (_score(values), 0.01, "", (), None)
        pause = random.Random(repr(sorted(values.items()))).uniform(0, 0.05)
        return lambda: time.sleep(pause) or fit

    instant = _run(f"sqlite:///{tmp_path}/a.db", Scorer())
    scrambled = run_search(SPACE, name="s", storage=f"sqlite:///{tmp_path}/b.db", metric="roc_auc",
                           direction="maximize", seed=7, fitter=nullcontext(Fitter(submit, "on 3 threads")))  # fmt: skip
    assert [t.params for t in scrambled.trials] == [t.params for t in instant.trials]
    assert scrambled.best == instant.best


def test_a_slow_fit_holds_back_only_the_trial_twice_parallel_places_after_it(tmp_path: Path) -> None:
    """3 at a time: while trial 0 is still fitting, trials 1-5 are drawn and fitted on the other two slots (trial 6
    waits for trial 0's score); never more than 3 fits at once. Trial 0 ends when the 6th fit starts: with draws
    that lag by `parallel` only, trials 3-5 would wait behind it until the bound ended it."""
    import threading

    started: list[dict[str, Any]] = []
    release = threading.Event()
    released: list[bool] = []  # trial 0's fit: ended by the 6th start (True), or by the bound (False)
    at_once = [0, 0]  # now, most
    lock = threading.Lock()

    def submit(values: dict[str, Any], rule: Any = None) -> Pending:
        started.append(values)
        first = len(started) == 1
        if len(started) == 6:
            release.set()
        with lock:
            at_once[0] += 1
            at_once[1] = max(at_once)
        fit: TrialFit = (_score(values), 0.01, "", (), None)

        def wait() -> TrialFit:
            if first:
                released.append(release.wait(timeout=10))  # a bound for the failing case only
            with lock:
                at_once[0] -= 1
            return fit

        return wait

    out = run_search(SPACE, name="s", storage=f"sqlite:///{tmp_path}/a.db", metric="roc_auc",
                     direction="maximize", seed=7, fitter=nullcontext(Fitter(submit, "on 3 threads")))  # fmt: skip
    assert released == [True] and at_once[1] <= 3 and len(out.trials) == 12
    assert [t.params for t in out.trials] == [
        t.params for t in _run(f"sqlite:///{tmp_path}/b.db", Scorer()).trials
    ]


def test_two_searches_of_one_study_at_once_fit_each_trial_once(tmp_path: Path) -> None:
    """Two retrains with one idempotency key at once: the second waits for the first's study lock, then finds
    every trial finished and fits none (without the lock both would fit trials beside each other)."""
    import threading
    import time

    storage = f"sqlite:///{tmp_path}/shared.db"
    slow, other = Scorer(delay=0.1), Scorer()

    outcomes: list[Any] = []
    first = threading.Thread(target=lambda: outcomes.append(_run(storage, slow)))
    first.start()
    time.sleep(0.5)  # the first is (most likely) holding the lock and fitting; either order must hold
    second = _run(storage, other)
    first.join()
    assert sorted([len(slow.fits), len(other.fits)]) == [
        0,
        12,
    ]  # each trial fitted once, by whoever came first
    assert (second.best.number, second.best.params) == (outcomes[0].best.number, outcomes[0].best.params)
    assert sorted([second.counts()["resumed"], outcomes[0].counts()["resumed"]]) == [0, 12]


def test_failed_trials_are_counted_and_a_search_with_no_scored_trial_stops(tmp_path: Path) -> None:
    def half_fail(t: dict[str, Any]) -> TrialFit:
        return (math.nan, 0.0, "refused", (), None) if t["kind"] == "a" else (_score(t), 0.0, "", (), None)

    out = run_search(SPACE, name="f", storage=f"sqlite:///{tmp_path}/f.db", metric="roc_auc",
                     direction="maximize", seed=1, fitter=fitting(half_fail))  # fmt: skip
    counts = out.counts()
    assert counts["failed"] >= 1 and counts["failed"] + counts["complete"] == 12
    assert all(t.error == "refused" for t in out.trials if t.state == "failed")

    def all_fail(t: dict[str, Any]) -> TrialFit:
        return (math.nan, 0.0, "C must be positive", (), None)

    with pytest.raises(DataError, match="no trial of model.search could be scored.*C must be positive"):
        run_search(SPACE, name="g", storage=f"sqlite:///{tmp_path}/g.db", metric="roc_auc",
                   direction="maximize", seed=1, fitter=fitting(all_fail))  # fmt: skip


def test_a_trial_store_that_does_not_answer_is_one_paragraph_naming_its_variable(tmp_path: Path) -> None:
    """MLOPS_SEARCH_STORAGE at a database that is down: mlops/reach.py's bounded reach and its message (the
    variable, the masked address, the fix), not SQLAlchemy's traceback; the password is never shown."""
    from mlops.reach import ServiceDown
    from tests.conftest import free_port

    url = f"postgresql://mlops:s3cret-pw@127.0.0.1:{free_port()}/trials"
    with pytest.raises(ServiceDown) as caught:
        _run(url, Scorer())
    said = str(caught.value)
    assert "MLOPS_SEARCH_STORAGE=" in said and "model search's trial store" in said, said
    assert "s3cret-pw" not in said and "start the database" in said, said
