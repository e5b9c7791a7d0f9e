"""scikit-learn: build the declared pipeline, fit it, and score models on a holdout. The optional extra's
estimators (LightGBM, XGBoost, CatBoost: mlops.catalog.OPTIONAL_ESTIMATORS) are built and fitted here too, through
their scikit-learn interfaces, imported only when a spec names one."""

from __future__ import annotations

import importlib
import inspect
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops.catalog import (
    BOOSTING,
    EARLY_STOPPING,
    Task,
    alias_of,
    aliases,
    estimators,
    metrics_for,
    missing_extra,
)
from mlops.errors import DataError, Problem
from mlops.memory import EncodingEstimate, estimate_encoding, memory_refusal
from mlops.memory import memory_budget as machine_budget
from mlops.pruning import PruneRule
from mlops.spec import Model, PipelineSpec
from mlops.text import did_you_mean
from tasks.data import Features, SplitData

# Never imported at run time here: estimator_class imports them by their catalog names, when a spec names one.
# Named so that import-linter's graph holds them and its contract keeps them in this module (pyproject.toml).
if TYPE_CHECKING:
    import catboost  # noqa: F401
    import lightgbm  # noqa: F401
    import xgboost  # noqa: F401


@dataclass(frozen=True)
class Predictions:
    """One model's outputs on the holdout: labels (or values) and, for binary classifiers, P(positive)."""

    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None = None
    positive: Any = None


@dataclass(frozen=True)
class Trained:
    model: Any  # a fitted sklearn Pipeline
    metrics: dict[str, float]
    params: dict[str, Any]
    fit_seconds: float
    predictions: Predictions | None = None  # on the holdout, computed once for the metrics and the evidence


def estimator_class(path: str) -> type:
    """Import an estimator class, but only one on the allowlist: a spec names classes, never code."""
    if path not in estimators():
        extra = missing_extra(path)
        if extra is not None:  # validate says so first; a model trained elsewhere may still meet it here
            raise DataError(
                f"estimator '{path}' needs the optional '{extra}' extra, which is not installed here: "
                f'`pip install -e ".[{extra}]"`, then rerun.'
            )
        raise ValueError(f"estimator '{path}' is not on the allowlist")
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def constructor_params(path: str) -> list[str]:
    """The names a spec may give the estimator in model.params and model.search.space: its constructor's parameters
    (scikit-learn's get_params(), and the constructor's signature: CatBoost's get_params() holds only the params
    set), less the library's aliases (mlops.catalog.PARAM_ALIASES: one name per setting)."""
    cls = estimator_class(path)
    signature = inspect.signature(cls).parameters.values()
    named = {p.name for p in signature if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}
    return sorted((named | set(cls().get_params())) - aliases(path))


def accepts_sparse(path: str) -> bool:
    """Whether the estimator fits on a sparse matrix (scikit-learn's own estimator tags say so: linear models and
    trees do, HistGradientBoosting and GaussianNB do not)."""
    from sklearn.utils import get_tags

    return bool(get_tags(estimator_class(path)()).input_tags.sparse)


def memory_estimate(frame: pd.DataFrame, model: Model, features: Features) -> EncodingEstimate:
    """What the preprocessing of `frame` will build, from its category counts (nulls count as one: imputation
    makes them a category)."""
    cat = model.preprocessing.categorical
    categories = {c: int(frame[c].nunique(dropna=False)) for c in features.categorical}
    return estimate_encoding(len(frame), len(features.numeric), categories, cat.encoding, cat.max_categories,
                             sparse=accepts_sparse(model.estimator))  # fmt: skip


def check_memory(
    frame: pd.DataFrame, model: Model, features: Features, budget_bytes: int | None = None
) -> None:
    """DataError, before anything is fitted, when the preprocessing would take more memory than the budget
    (default: half the memory available now); a one-hot column with a category per row would otherwise build a
    dense matrix of tens of GB and the kernel would kill the process without a message."""
    budget = machine_budget() if budget_bytes is None else budget_bytes
    if budget is None:
        return
    refusal = memory_refusal(memory_estimate(frame, model, features), budget)
    if refusal:
        raise DataError(refusal)


def build_pipeline(model: Model, features: Features, seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    num, cat = model.preprocessing.numeric, model.preprocessing.categorical
    num_steps: list[tuple[str, Any]] = []
    if num.impute != "none":
        num_steps.append(("impute", SimpleImputer(strategy=num.impute)))
    if num.scale:
        num_steps.append(("scale", StandardScaler()))
    cat_steps: list[tuple[str, Any]] = []
    if cat.impute != "none":
        cat_steps.append(("impute", SimpleImputer(strategy=cat.impute, fill_value="missing")))
    catboost = model.estimator.startswith("catboost.")
    if cat.encoding == "native" and catboost:
        # CatBoost takes categories as integers or text, never NaN: integer codes, with an unknown or missing
        # category as -1, a category of its own (it has one for values unseen in training)
        encoder: Any = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
                                      max_categories=cat.max_categories, dtype=np.int64)  # fmt: skip
    elif cat.encoding == "native":
        # codes the estimator splits on as categories (told below which columns they are); an unknown or missing
        # category is missing, which all of them handle (LightGBM and XGBoost refuse negative codes)
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                      encoded_missing_value=np.nan, max_categories=cat.max_categories)  # fmt: skip
    elif cat.encoding == "onehot":
        # sparse where the estimator takes it: a column of many categories then costs one value a row, not one
        # per category (ColumnTransformer still makes a mostly non-zero output dense)
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=cat.max_categories,
                                sparse_output=accepts_sparse(model.estimator))  # fmt: skip
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
                                 max_categories=cat.max_categories)  # fmt: skip
    cat_steps.append(("encode", encoder))
    transformers = []
    if features.numeric:
        transformers.append(
            ("numeric", Pipeline(num_steps) if num_steps else "passthrough", features.numeric)
        )
    if features.categorical:
        transformers.append(("categorical", Pipeline(cat_steps), features.categorical))
    estimator = estimator_class(model.estimator)()
    params = _library_defaults(model.estimator) | dict(model.params)
    if "random_state" in constructor_params(model.estimator) and "random_state" not in params:
        params["random_state"] = seed
    if cat.encoding == "native" and features.categorical:
        params = (
            _native_categorical(model.estimator, len(features.numeric), len(features.categorical)) | params
        )
    estimator.set_params(**params)
    preprocess = ColumnTransformer(transformers, verbose_feature_names_out=False)
    if catboost and cat.encoding == "native" and features.categorical:
        # a frame, so that the codes stay integers beside float numeric columns (a numpy array would be all float)
        preprocess.set_output(transform="pandas")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def _library_defaults(path: str) -> dict[str, Any]:
    """Params the spec did not set that keep a library quiet (LightGBM logs a warning per tree otherwise, CatBoost
    a line per round) and, for CatBoost, out of the working directory (it writes catboost_info/ there otherwise)
    and on the CPUs this process may use (its own default counts the machine's, beyond a container's or a
    taskset's share)."""
    if path.startswith("lightgbm."):
        return {"verbosity": -1}
    if path.startswith("catboost."):
        return {"verbose": 0, "allow_writing_files": False, "thread_count": available_cpus()}
    return {}


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the system tells it), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _native_categorical(path: str, numeric: int, categorical: int) -> dict[str, Any]:
    """How each estimator is told that the columns after the `numeric` first ones are categorical codes."""
    columns = list(range(numeric, numeric + categorical))
    if path.startswith("lightgbm."):
        # LightGBM's own parameter (categorical_feature is its alias, which the Python side warns about), kept on
        # the model rather than passed to each fit
        return {"categorical_column": columns}
    if path.startswith("xgboost."):
        return {"enable_categorical": True, "feature_types": ["q"] * numeric + ["c"] * categorical}
    if path.startswith("catboost."):
        return {"cat_features": columns}
    return {"categorical_features": columns}  # HistGradientBoosting


def stops_early(model: Model) -> bool:
    """Whether training needs a validation part cut from the training rows (model.early_stopping_rounds)."""
    return model.early_stopping_rounds is not None


@dataclass(frozen=True)
class Watched:
    """A boosting estimator fitted on the fitting part while watching the validation part (tasks.data's cut of the
    training rows): its pipeline (classes as codes 0..k-1), the rounds kept, the validation loss at each round,
    and the round where the pruner stopped it (None: it was not pruned)."""

    pipeline: Any
    trees: int
    curve: list[float]
    pruned_at: int | None = None


def fit_watched(
    model: Model,
    features: Features,
    seed: int,
    fit: pd.DataFrame,
    validation: pd.DataFrame,
    target: str,
    prune: PruneRule | None = None,
) -> Watched:
    """Fit a boosting estimator on `fit` watching its loss on `validation` round by round (both training rows):
    it stops early after model.early_stopping_rounds rounds without improvement, and at the first round where
    `prune` (mlops.pruning, from earlier trials) says so. Classes are coded 0..k-1 (both libraries take codes in
    an eval set; LightGBM does not encode text labels there, XGBoost nowhere), in sorted order as
    scikit-learn's classes_; a validation row of a class unseen in `fit` is left out of the watch."""
    pipeline = build_pipeline(model, features, seed)
    prepare, estimator = pipeline[:-1], pipeline[-1]
    x_fit = prepare.fit_transform(fit[features.all], fit[target])
    x_val = prepare.transform(validation[features.all])
    y_fit, y_val = np.asarray(fit[target]), np.asarray(validation[target])
    if model.task == "classification":
        classes = np.unique(y_fit)
        known = np.isin(y_val, classes)
        x_val, y_val = x_val[known], np.searchsorted(classes, y_val[known])
        y_fit = np.searchsorted(classes, y_fit)
    watch = _Watch(prune)
    rounds = model.early_stopping_rounds
    if model.estimator.startswith("xgboost."):
        estimator.set_params(early_stopping_rounds=rounds, callbacks=[watch.xgboost()])
        try:
            estimator.fit(x_fit, y_fit, eval_set=[(x_val, y_val)], verbose=False)
        finally:  # the callback is no constructor param of the model that is kept (skops would not trust it)
            estimator.set_params(callbacks=None)
        best = getattr(estimator, "best_iteration", None)
        trees = int(best) + 1 if rounds and best is not None else len(watch.curve)  # best_iteration: 0-based
    elif model.estimator.startswith("catboost."):
        # without early stopping the model keeps all its rounds, as the others (CatBoost would cut it to the best
        # round on the eval set by default)
        estimator.fit(x_fit, y_fit, eval_set=(x_val, y_val), early_stopping_rounds=rounds,
                      use_best_model=rounds is not None, callbacks=[watch.catboost(estimator)])  # fmt: skip
        best = estimator.best_iteration_  # 0-based
        trees = int(best) + 1 if rounds is not None and best is not None else len(watch.curve)
    else:  # LightGBM (BOOSTING holds nothing else)
        if rounds is not None:
            estimator.set_params(early_stopping_round=rounds)
        estimator.fit(x_fit, y_fit, eval_X=(x_val,), eval_y=(y_val,), callbacks=[watch.lightgbm()])
        trees = int(estimator.best_iteration_ or len(watch.curve))  # 1-based; 0 when it never stopped
    return Watched(pipeline, trees, watch.curve, watch.pruned_at)


class _Watch:
    """Records the validation loss at each round and stops the fit where the pruning rule says so."""

    def __init__(self, prune: PruneRule | None) -> None:
        self.prune = prune
        self.curve: list[float] = []
        self.best = math.nan
        self.pruned_at: int | None = None

    def step(self, value: float, higher_is_better: bool) -> bool:
        """Record a round's value; True when the fit must stop (pruned)."""
        self.curve.append(float(value))
        if math.isnan(self.best) or (value > self.best if higher_is_better else value < self.best):
            self.best = float(value)
        if self.prune is not None and self.prune.prunes(len(self.curve) - 1, self.best, higher_is_better):
            self.pruned_at = len(self.curve) - 1
            return True
        return False

    def lightgbm(self) -> Any:
        import lightgbm

        def callback(env: Any) -> None:
            if not env.evaluation_result_list:
                return
            _, _, value, higher_is_better = env.evaluation_result_list[0][:4]
            if self.step(value, bool(higher_is_better)):
                raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

        return callback

    def xgboost(self) -> Any:
        import xgboost

        watch = self

        class Callback(xgboost.callback.TrainingCallback):  # type: ignore[misc]
            def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
                if not evals_log:
                    return False
                name, values = list(next(iter(evals_log.values())).items())[-1]  # early stopping's metric
                value = values[-1][0] if isinstance(values[-1], tuple) else values[-1]
                return watch.step(float(value), name.split("@")[0] in _XGBOOST_HIGHER_IS_BETTER)

        return Callback()

    def catboost(self, estimator: Any) -> Any:
        from catboost._catboost import is_maximizable_metric

        watch = self

        class Callback:
            """CatBoost's callback protocol: after_iteration(info) returns False to stop the fit."""

            def after_iteration(self, info: Any) -> bool:
                validation = info.metrics.get("validation") or {}
                if not validation:
                    return True
                name = _catboost_watched(estimator, list(validation))
                return not watch.step(float(validation[name][-1]), bool(is_maximizable_metric(name)))

        return Callback()


def _catboost_watched(estimator: Any, names: list[str]) -> str:
    """The metric CatBoost's early stopping watches among those it reports: eval_metric where the spec sets one,
    else its loss (the first)."""
    wanted = estimator.get_params().get("eval_metric")
    return wanted if isinstance(wanted, str) and wanted in names else names[0]


# XGBoost's evaluation metrics where more is better (its early stopping's own list); the others are losses
_XGBOOST_HIGHER_IS_BETTER = frozenset({"auc", "aucpr", "pre", "map", "ndcg"})


def early_stopped_trees(
    model: Model, features: Features, seed: int, fit: pd.DataFrame, validation: pd.DataFrame, target: str
) -> int:
    """How many trees a boosting estimator grows before the validation loss stops improving for
    model.early_stopping_rounds rounds: fitted on `fit` and watched on `validation`, both training rows."""
    return fit_watched(model, features, seed, fit, validation, target).trees


def check_target(model: Model, frame: pd.DataFrame, column: str) -> None:
    """DataError when the estimator cannot keep the target's labels: XGBClassifier numbers its classes 0..k-1 and
    predicts those numbers (its classes_ is always 0..k-1), so another target would come back as codes from the
    saved model. Booleans and the integers 0..k-1 pass. CatBoostClassifier answers a target of more than two classes
    with a column of labels (shape (n, 1)), not the 1-D labels that predict, the monitor and the saved model's
    signature take: refused too."""
    if model.task != "classification":
        return
    if model.estimator.startswith("catboost."):
        classes = frame[column].dropna().nunique()
        if classes > 2:
            raise DataError(
                f"the target '{column}' holds {classes} classes, and {model.estimator} takes two: for more it "
                "predicts a column of labels rather than one label a row, which the predictions, the monitor and "
                "the saved model's signature do not take. Name lightgbm.LGBMClassifier (or a scikit-learn "
                "classifier) for this target, or make it a yes/no question in the source."
            )
        return
    if not model.estimator.startswith("xgboost."):
        return
    target = frame[column]
    labels = target.dropna().drop_duplicates().tolist()  # Python values: shown as the user wrote them
    if pd.api.types.is_bool_dtype(target.dropna()):
        return
    try:
        codes = sorted(int(v) for v in labels if float(v).is_integer())
    except (TypeError, ValueError):
        codes = []
    if len(codes) == len(labels) and codes == list(range(len(labels))):
        return
    shown = ", ".join(repr(v) for v in sorted(labels, key=str)[:6]) + (", ..." if len(labels) > 6 else "")
    raise DataError(
        f"the target '{target.name}' holds the classes {shown}, and xgboost.XGBClassifier takes only classes "
        f"numbered 0..{len(labels) - 1} (it predicts those numbers, so the saved model would not answer with your "
        "labels): map the target to 0..k-1 in the source (e.g. a 0/1 column), or name lightgbm.LGBMClassifier, "
        "which keeps any labels."
    )


def train(
    data: SplitData,
    model: Model,
    target: str,
    seed: int,
    memory_budget: int | None = None,
    validation: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Trained:
    """Fit the declared pipeline on the training part and score it on the holdout; `memory_budget` (bytes) bounds
    the preprocessing (default: half the memory available). With model.early_stopping_rounds, `validation` (the
    fitting and validation parts of the training rows, tasks.data.validation_split) finds the number of trees,
    and the model is then fitted with that many on all the training rows: the holdout is never looked at."""
    check_memory(data.train, model, data.features, memory_budget)
    check_target(model, data.train, target)
    pipeline = build_pipeline(model, data.features, seed)
    x, y = data.train[data.features.all], data.train[target]
    start = time.perf_counter()
    try:
        if stops_early(model):
            if validation is None or model.estimator not in BOOSTING:
                raise ValueError("early stopping needs a boosting estimator and a validation part")
            trees = early_stopped_trees(model, data.features, seed, *validation, target)
            pipeline.set_params(model__n_estimators=trees)
        pipeline.fit(x, y)
    except (ValueError, TypeError) as exc:
        raise DataError(f"the model could not be fitted: {exc}") from None
    fit_seconds = time.perf_counter() - start
    metrics, predictions = evaluate_on(pipeline, data.holdout, data.features.all, target, model.task)
    params = {f"model.{k}": v for k, v in pipeline.named_steps["model"].get_params().items()}
    return Trained(pipeline, metrics, params, fit_seconds, predictions)


def rescore(model: Any, data: SplitData, target: str, task_kind: Task) -> Trained:
    """A model trained before on the same spec, data and code (see tracking.finished_training), scored on the
    holdout as if it had just been fitted: no fit, no new params."""
    metrics, predictions = evaluate_on(model, data.holdout, data.features.all, target, task_kind)
    return Trained(model, metrics, {}, 0.0, predictions)


def score(
    model: Any, holdout: pd.DataFrame, columns: list[str], target: str, task_kind: Task
) -> dict[str, float]:
    """Every metric of the task on the holdout; a metric that cannot be computed is NaN, never an exception."""
    return evaluate_on(model, holdout, columns, target, task_kind)[0]


def evaluate_on(
    model: Any, holdout: pd.DataFrame, columns: list[str], target: str, task_kind: Task
) -> tuple[dict[str, float], Predictions]:
    """The task's metrics and the outputs they came from, predicting each row once (a 1M-row holdout costs
    seconds per pass; the promotion evidence reuses these outputs)."""
    x, y = holdout[columns], holdout[target]
    pred = model.predict(x)
    proba = None
    if task_kind == "classification":
        try:
            proba = model.predict_proba(x)
        except (AttributeError, ValueError):
            proba = None
    classes = list(getattr(model, "classes_", []))
    metrics = _metrics(y, pred, proba, classes, task_kind)
    binary = task_kind == "classification" and proba is not None and len(classes) == 2
    outputs = Predictions(
        y.to_numpy(),
        np.asarray(pred),
        proba[:, 1] if binary and proba is not None else None,
        classes[1] if binary else None,
    )
    return metrics, outputs


def metrics_of(y: Any, pred: Any, proba: Any, classes: list[Any], task_kind: Task) -> dict[str, float]:
    """The task's metrics from outputs already made (kept predictions joined to labels that came later), by the
    functions that scored the champion's holdout."""
    return _metrics(y, pred, proba, classes, task_kind)


def _metrics(y: Any, pred: Any, proba: Any, classes: list[Any], task_kind: Task) -> dict[str, float]:
    from sklearn import metrics as m

    out: dict[str, float] = {}
    if task_kind == "regression":
        out["rmse"] = float(math.sqrt(m.mean_squared_error(y, pred)))
        out["mae"] = float(m.mean_absolute_error(y, pred))
        out["r2"] = float(m.r2_score(y, pred))
        out["mape"] = float(m.mean_absolute_percentage_error(y, pred))
        return out
    binary = len(classes) == 2
    avg = "binary" if binary else "macro"
    pos = {"pos_label": classes[1]} if binary else {}
    out["accuracy"] = float(m.accuracy_score(y, pred))
    out["balanced_accuracy"] = float(m.balanced_accuracy_score(y, pred))
    out["f1"] = float(m.f1_score(y, pred, average=avg, zero_division=0, **pos))
    out["precision"] = float(m.precision_score(y, pred, average=avg, zero_division=0, **pos))
    out["recall"] = float(m.recall_score(y, pred, average=avg, zero_division=0, **pos))
    out.update(_proba_metrics(y, proba, classes))
    return {k: out.get(k, math.nan) for k in metrics_for(task_kind)}


def _proba_metrics(y: Any, proba: Any, classes: list[Any]) -> dict[str, float]:
    """ROC AUC, average precision and log loss; none (NaN in the caller) without probabilities or when the holdout
    cannot give them (e.g. a class absent from it)."""
    from sklearn import metrics as m

    if proba is None:
        return {}
    try:
        out = {"log_loss": float(m.log_loss(y, proba, labels=classes))}
        if len(classes) == 2:
            truth = (y == classes[1]).astype(int)
            out["roc_auc"] = float(m.roc_auc_score(truth, proba[:, 1]))
            out["average_precision"] = float(m.average_precision_score(truth, proba[:, 1]))
        else:
            out["roc_auc"] = float(m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    except ValueError:
        return {}
    return out


def run_params(
    spec: Any, features: Features, candidates: list[CandidateResult] | None = None
) -> dict[str, Any]:
    """What the MLflow run records besides the estimator's own params: the spec's choices, the features used."""
    return {
        "estimator": spec.model.estimator,
        "task": spec.model.task,
        "split": spec.data.split.model_dump(),
        "features.numeric": features.numeric,
        "features.categorical": features.categorical,
        "preprocessing": spec.model.preprocessing.model_dump(),
        "promotion": spec.promotion.model_dump(),
        **{
            f"candidate.{i}": {"params": c.params, f"validation_{c.metric}": c.value}
            for i, c in enumerate(candidates or [])
        },
    }


def param_problems(file: str, estimator: str, params: dict[str, object]) -> list[Problem]:
    """Unknown or invalid estimator params, with the closest valid name."""
    from sklearn.base import clone

    if estimator not in estimators():
        return []  # already reported by the schema check (or the extra's missing)
    try:
        instance = estimator_class(estimator)()
    except Exception as exc:  # noqa: BLE001  # pragma: no cover - an allowlisted class that fails to import is an install problem
        return [
            Problem(file, "model.estimator", f"cannot import {estimator} ({exc})", "reinstall scikit-learn")
        ]
    valid = constructor_params(estimator)
    out = [p for name in params if (p := _name_problem(file, f"model.params.{name}", estimator, name, valid))]
    if not out and params:
        try:
            clone(instance.set_params(**params))
            check_constructor_params(instance)
        except Exception as exc:  # noqa: BLE001 - an estimator may raise anything for bad params; all become a Problem
            out.append(Problem(file, "model.params", f"rejected by {estimator.rsplit('.', 1)[1]}: {exc}"))
    return out


def search_problems(
    file: str, estimator: str, params: dict[str, object], space: dict[str, Any]
) -> list[Problem]:
    """model.search.space against the estimator's own parameters (get_params()): an unknown name gets the closest
    valid one; each bound and choice must be a value the estimator accepts (with model.params beside it)."""
    if estimator not in estimators():
        return []
    short = estimator.rsplit(".", 1)[1]
    valid = constructor_params(estimator)
    out = []
    for name, dim in space.items():
        path = f"model.search.space.{name}"
        unknown = _name_problem(file, path, estimator, name, valid)
        if unknown:
            out.append(unknown)
            continue
        if dim.type == "categorical":
            values = list(dim.choices or [])
        else:
            cast = int if dim.type == "int" else float
            values = [cast(dim.low), cast(dim.high)]
        for value in values:
            problem = param_problems(file, estimator, {**params, name: value})
            if problem:
                out.append(Problem(file, path, f"{value!r} is refused by {short}: {problem[0].message}"))
                break
    return out


def _name_problem(file: str, path: str, estimator: str, name: str, valid: list[str]) -> Problem | None:
    """A name that is not one of the estimator's constructor parameters, with the closest valid one; a boosting
    library's own alias (`eta`, `num_iterations`, `min_data_in_leaf`, ...) is pointed to its scikit-learn name."""
    short = estimator.rsplit(".", 1)[1]
    target = alias_of(estimator, name, valid)
    if target == EARLY_STOPPING:
        return Problem(
            file, path, f"'{name}' is early stopping, which is not an estimator parameter here: it needs a validation "
            "part cut from the training rows",
            f"set {EARLY_STOPPING}: N beside model.params (it cuts that part, never the holdout) and remove {name}",
        )  # fmt: skip
    if target is not None:
        return Problem(
            file, path, f"'{name}' is another name for a parameter of {short}, which the spec names '{target}' only "
            "(one name per setting: on the run, in the search and in get_params())", f"did you mean '{target}'?",
        )  # fmt: skip
    if name in valid:
        return None
    guess = did_you_mean(name, valid)
    hint = f"did you mean '{guess}'?" if guess else "valid params: " + ", ".join(valid)
    return Problem(file, path, f"not a parameter of {short}", hint)


def check_constructor_params(estimator: Any) -> None:
    """Raise scikit-learn's own error (InvalidParameterError) when a constructor parameter has the wrong type
    or range, without fitting.

    The one use of a private scikit-learn API (BaseEstimator._validate_params, what `fit` runs first; no public
    function checks params without fitting): tests/integration/test_library_contracts.py pins it. LightGBM and
    XGBoost declare no constraints (their classes have no `_parameter_constraints`): they check their params
    when fitting, where a bad value stops the run with the library's message."""
    if not hasattr(type(estimator), "_parameter_constraints"):
        return
    estimator._validate_params()


PREDICTION, PROBA = "prediction", "prediction_proba"


def predict(model: Any, frame: pd.DataFrame, columns: list[str], task_kind: Task) -> pd.DataFrame:
    """The frame with the model's predictions added (and the positive class's probability, when binary)."""
    out = frame.copy()
    out[PREDICTION] = model.predict(frame[columns])
    if task_kind == "classification" and hasattr(model, "predict_proba") and len(model.classes_) == 2:
        out[PROBA] = model.predict_proba(frame[columns])[:, 1]
    return out


@dataclass(frozen=True)
class CandidateResult:
    params: dict[str, Any]
    metric: str
    value: float
    fit_seconds: float
    error: str = ""  # a search trial the estimator refused (fit_trial): its value is NaN
    curve: tuple[float, ...] = ()  # a boosting trial's validation loss round by round (the pruner's evidence)
    pruned_at: int | None = None  # the round where the pruner stopped it: its value is NaN


def candidate_models(model: Model) -> list[Model]:
    """The spec's model with each candidate's params merged on; just the model itself without candidates."""
    if not model.candidates:
        return [model]
    return [
        model.model_copy(update={"params": {**model.params, **c}, "candidates": []}) for c in model.candidates
    ]


@dataclass(frozen=True)
class FitData:
    """What every fit of one model selection shares, each candidate's and each search trial's: the part it fits on,
    the validation part it is scored on (never the holdout, which stays untouched for the champion/challenger
    comparison), the columns, the target, the seed and the metric it is judged by."""

    fit: pd.DataFrame
    validation: pd.DataFrame
    features: Features
    target: str
    seed: int
    metric: str

    @classmethod
    def of(cls, cut: tuple[pd.DataFrame, pd.DataFrame], features: Features, spec: PipelineSpec) -> FitData:
        """The fits of `spec`'s model selection on `cut` (the fitting and validation parts)."""
        fit, validation = cut
        return cls(fit, validation, features, spec.data.target, spec.data.split.seed, spec.promotion.metric)


def fit_candidate(data: FitData, model: Model) -> CandidateResult:
    """Fit one candidate on the fitting part and score it on the validation part."""
    check_memory(data.fit, model, data.features)
    check_target(model, data.fit, data.target)
    pipeline = build_pipeline(model, data.features, data.seed)
    start = time.perf_counter()
    try:
        pipeline.fit(data.fit[data.features.all], data.fit[data.target])
    except (ValueError, TypeError) as exc:
        raise DataError(f"candidate {model.params} could not be fitted: {exc}") from None
    seconds = time.perf_counter() - start
    value = score(pipeline, data.validation, data.features.all, data.target, model.task).get(
        data.metric, math.nan
    )
    return CandidateResult(dict(model.params), data.metric, value, seconds)


def fit_trial(data: FitData, model: Model, prune: PruneRule | None = None) -> CandidateResult:
    """One trial of model.search: fit_candidate, except that values the estimator refuses (or a fit that fails)
    make a failed trial, recorded with its reason, instead of stopping the search. A boosting estimator is fitted
    watching the validation part (fit_watched): it stops early with model.early_stopping_rounds, is pruned where
    `prune` says, and its loss curve comes back for the pruning of later batches."""
    start = time.perf_counter()
    try:
        if model.estimator not in BOOSTING:
            return fit_candidate(data, model)
        check_memory(data.fit, model, data.features)
        check_target(model, data.fit, data.target)
        try:
            watched = fit_watched(
                model, data.features, data.seed, data.fit, data.validation, data.target, prune
            )
        except (ValueError, TypeError) as exc:
            raise DataError(f"candidate {model.params} could not be fitted: {exc}") from None
    except DataError as exc:
        return CandidateResult(
            dict(model.params), data.metric, math.nan, time.perf_counter() - start, str(exc)
        )
    seconds = time.perf_counter() - start
    params, curve = dict(model.params), tuple(watched.curve)
    if watched.pruned_at is not None:
        return CandidateResult(
            params, data.metric, math.nan, seconds, curve=curve, pruned_at=watched.pruned_at
        )
    target, scored = data.target, data.validation
    if model.task == "classification":  # the watched model predicts codes 0..k-1 of the classes seen in `fit`
        classes = np.unique(np.asarray(data.fit[target]))
        scored = scored[scored[target].isin(classes)]
        scored = scored.assign(**{target: np.searchsorted(classes, np.asarray(scored[target]))})
    value = score(watched.pipeline, scored, data.features.all, target, model.task).get(data.metric, math.nan)
    return CandidateResult(params, data.metric, value, seconds, curve=curve)


def trial_models(model: Model, trials: list[dict[str, Any]]) -> list[Model]:
    """The spec's model with each trial's values merged onto model.params (no search, no candidates left)."""
    return [
        model.model_copy(update={"params": {**model.params, **t}, "search": None, "candidates": []})
        for t in trials
    ]


@dataclass(frozen=True)
class BatchQuality:
    """The champion's quality on a monitored batch, by the very metric function that scored its holdout."""

    metrics: dict[str, float] | None  # None: no labelled row
    rows: int  # labelled rows scored
    unavailable: dict[str, str]  # metric -> why it could not be computed on this batch (its value is NaN)
    notes: list[str]


def batch_quality(
    model: Any, batch: pd.DataFrame, columns: list[str], target: str, task_kind: Task
) -> BatchQuality:
    """Every metric of the task on the batch's labelled rows (the same _metrics as training and promotion, so
    the monitor judges promotion.metric, whatever it is, on the figure the champion was promoted with)."""
    if target not in batch.columns or batch[target].isna().all():
        return BatchQuality(None, 0, {}, ["no labels in the batch: model quality skipped"])
    labelled = batch[batch[target].notna()]
    notes = []
    if len(labelled) < len(batch):
        notes.append(f"model quality on the {len(labelled):,} labelled rows of {len(batch):,}")
    metrics, _ = evaluate_on(model, labelled, columns, target, task_kind)
    unavailable: dict[str, str] = {}
    classes = labelled[target].nunique()
    for name, value in metrics.items():
        if not math.isnan(value):
            continue
        if task_kind == "classification" and classes < 2:
            why = f"the batch's {len(labelled):,} labelled rows hold a single class"
        elif task_kind == "classification" and not hasattr(model, "predict_proba"):
            why = "the model gives no probabilities"
        else:
            why = "it cannot be computed on this batch (e.g. a label the model never saw)"
        unavailable[name] = f"{name}: {why}"
    if unavailable:
        notes.append("not computed on this batch: " + "; ".join(unavailable.values()))
    return BatchQuality(metrics, len(labelled), unavailable, notes)
