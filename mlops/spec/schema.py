"""The pipeline spec's schema: what one YAML file under deployments/ may say, as pydantic models.

Every model forbids unknown fields (a misspelling is an error, never silently ignored) and is frozen.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from mlops.catalog import BOOSTING, BUILTIN_DATASETS, METRICS, Direction, Task
from mlops.timeutil import as_iso

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
# numpy and pandas take seeds in [0, 2**32): a seed outside is refused here, not mid-run
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
ParamValue = str | int | float | bool | None | list[str | int | float | bool | None]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where the data comes from: a CSV or Parquet file (or a glob of them, or a folder), a bundled dataset, or a
    SQL database (PostgreSQL, or DuckDB over local files) through a URL held in an environment variable (a DuckDB
    URL, which holds no secret, may be written as `url:`)."""

    kind: Literal["csv", "parquet", "builtin", "sql"]
    path: str | None = Field(None, description="File or glob, relative to the project root (csv, parquet)")
    name: str | None = Field(None, description=f"Bundled dataset (builtin): {', '.join(BUILTIN_DATASETS)}")
    url_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="sql: the environment variable holding the database URL (postgresql://user:pw@host/db, "
        "duckdb:///file.duckdb, duckdb:///:memory:); the URL itself is never written in the spec",
    )
    url: str | None = Field(
        None,
        description="sql, DuckDB only: the database URL written in the spec (duckdb:///:memory: for SQL over local "
        "files, duckdb:///data/x.duckdb): a DuckDB URL holds no secret; a PostgreSQL URL goes in url_env",
    )
    table: str | None = Field(None, description="sql: the table (or schema.table) to read")
    query: str | None = Field(None, description="sql: one SELECT to read (instead of table)")


class Window(Strict):
    """Keep rows whose time column falls in [start, end)."""

    start: datetime | None = None
    end: datetime | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _as_people_write_it(cls, value: object) -> object:
        """`2013` or `2013-07` mean that year or month, as on the command line (YAML reads a bare year as a
        number, which pydantic would take as seconds after 1970)."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return as_iso(value) if isinstance(value, str) else value


class Features(Strict):
    """Declared feature columns; any list left out is inferred from the data and recorded with the model."""

    numeric: list[str] | None = None
    categorical: list[str] | None = None
    exclude: list[str] = Field(default_factory=list, description="Columns never used as features")


class Split(Strict):
    """Each row's side is drawn from a seeded hash of its key, so it stays put when the data grows or the window
    moves: a row trained on never lands in a later holdout (a time split holds out the latest timestamps)."""

    strategy: Literal["stratified", "random", "time"] = "stratified"
    holdout_fraction: Fraction = 0.2
    seed: Seed = 42
    key: list[str] | None = Field(
        None,
        min_length=1,
        description="Columns that identify a row (or a group kept on one side); default: data.time_column when "
        "declared (rows sharing a timestamp stay together), else the row's whole content",
    )


class Data(Strict):
    source: Source
    target: str
    time_column: str | None = None
    id_column: str | None = Field(
        None,
        description="Column that identifies a row across runs (one value per row of a batch): predict keeps its "
        "predictions by it, and labels that arrive later (the labels section) are joined to them by it",
    )
    window: Window | None = None
    features: Features = Features()
    split: Split = Split()
    max_missing_target_share: Annotated[float, Field(ge=0, le=1)] = Field(
        0.1,
        description="Largest share of rows without a target value (they are left out, counted and reported); "
        "more stops the retrain: a broken join, the wrong target column or labels not yet arrived leave a "
        "biased sample. 0 = every row needs a target, 1 = no limit",
    )


class Labels(Strict):
    """Labels that arrive after the predictions (days later, from another system): a file (or a glob) with the
    row's id, its label and when the label became known. The monitor joins those that have arrived to the
    predictions they belong to (docs/labels.md)."""

    source: Source
    id_column: str | None = Field(None, description="The id column in the labels; default: data.id_column")
    label_column: str | None = Field(None, description="The label column; default: data.target")
    known_at_column: str | None = Field(
        None,
        description="When each label became known; a label counts once known (a later label of an id replaces an "
        "earlier one). Without it every label in the source counts",
    )


class Quality(Strict):
    suite: str = Field(description="Great Expectations suite (GX JSON), relative to the project root")
    on_failure: Literal["fail", "warn"] = "fail"


class NumericPreprocessing(Strict):
    impute: Literal["median", "mean", "most_frequent", "none"] = "median"
    scale: bool = False


class CategoricalPreprocessing(Strict):
    impute: Literal["most_frequent", "constant", "none"] = "constant"
    encoding: Literal["onehot", "ordinal", "native"] = Field(
        "onehot",
        description="onehot | ordinal | native: ordinal codes the estimator splits on as categories (its own "
        "handling of categorical columns: HistGradientBoosting, LightGBM, XGBoost); unknown and missing are missing",
    )
    max_categories: int | None = Field(20, ge=2)


class Preprocessing(Strict):
    numeric: NumericPreprocessing = NumericPreprocessing()
    categorical: CategoricalPreprocessing = CategoricalPreprocessing()


class SearchParam(Strict):
    """One dimension of model.search.space: an integer or a float between low and high (both included; `log`
    samples on a log scale, so 0.001-0.01 is tried as often as 0.01-0.1), or one of a list of choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | int | float | bool | None] | None = None

    @model_validator(mode="after")
    def _a_space_to_search(self) -> SearchParam:
        if self.type == "categorical":
            if self.low is not None or self.high is not None or self.log:
                raise PydanticCustomError(
                    "search", "a categorical parameter takes choices, not low/high/log: remove them"
                )
            if not self.choices:
                raise PydanticCustomError(
                    "search", "a categorical parameter needs choices (e.g. choices: [15, 31, 63])"
                )
            if len({repr(c) for c in self.choices}) < len(self.choices):
                raise PydanticCustomError("search", "choices repeat a value: list each one once")
            return self
        if self.choices is not None:
            raise PydanticCustomError(
                "search", f"choices are for type: categorical; a {self.type} parameter takes low and high"
            )
        if self.low is None or self.high is None:
            raise PydanticCustomError(
                "search", f"a {self.type} parameter needs both low and high (e.g. low: 1, high: 10)"
            )
        if self.type == "int" and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise PydanticCustomError(
                "search", f"an int parameter needs whole bounds: low {self.low}, high {self.high}"
            )
        if not self.low < self.high:
            raise PydanticCustomError(
                "search",
                f"low ({self.low:g}) must be below high ({self.high:g}); a single value is not a search: put it in "
                "model.params",
            )
        if self.log and self.low <= 0:
            raise PydanticCustomError(
                "search",
                f"log: true needs low above 0 (a log scale has no {self.low:g}): raise low (e.g. 0.001), or drop log",
            )
        return self


class Pruner(Strict):
    """Stop a trial whose validation loss, round by round, is worse than the median of the complete trials' at the
    same round (Optuna's MedianPruner rule). Only for estimators that report as they fit (LightGBM, XGBoost)."""

    kind: Literal["median", "none"] = Field(
        "median", description="median | none (every trial fits to the end)"
    )
    startup_trials: int = Field(
        5, ge=0, le=10_000, description="Complete trials before any is pruned (Optuna's n_startup_trials)"
    )
    warmup_steps: int = Field(
        10, ge=0, description="Boosting rounds a trial always fits before it may be pruned (n_warmup_steps)"
    )


class Search(Strict):
    """A hyperparameter search (Optuna's TPE sampler): each trial fits the model with values drawn from `space`
    (merged onto model.params) and scores promotion.metric on a validation part cut from the training rows, never
    on the holdout; the best trial's values are then trained on all the training rows as the challenger."""

    space: dict[str, SearchParam] = Field(
        min_length=1, description="Estimator parameter -> its range or choices"
    )
    trials: int | None = Field(
        None, ge=1, le=10_000, description="Trials to run (a budget: this and/or timeout)"
    )
    timeout_minutes: float | None = Field(
        None, gt=0, description="Start no trial after this long (a budget: this and/or trials)"
    )
    seed: Seed | None = Field(None, description="The sampler's seed; default: data.split.seed")
    parallel: int = Field(
        4,
        ge=1,
        le=64,
        description="Trials fitted at once (threads, or the Dask cluster); part of the result: the same "
        "seed, data and parallel give the same trials wherever they run",
    )

    pruner: Pruner | None = Field(
        None,
        description="Default: the median rule for LightGBM and XGBoost (they report their validation loss round "
        "by round), none for the others",
    )

    @model_validator(mode="after")
    def _a_budget(self) -> Search:
        if self.trials is None and self.timeout_minutes is None:
            raise PydanticCustomError(
                "search",
                "a search needs a budget: set trials (e.g. trials: 20), timeout_minutes, or both (it stops at the "
                "first reached)",
            )
        return self


class Model(Strict):
    task: Task
    estimator: str = Field(description="Import path of an allowed scikit-learn estimator")
    params: dict[str, ParamValue] = Field(default_factory=dict)
    candidates: list[dict[str, ParamValue]] = Field(
        default_factory=list,
        description="Parameter sets to try, each merged onto params; they train concurrently and the best on a "
        "validation part of the training data becomes the challenger",
    )
    search: Search | None = Field(
        None,
        description="A hyperparameter search over some estimator parameters (pip install -e '.[search]')",
    )
    preprocessing: Preprocessing = Preprocessing()
    early_stopping_rounds: int | None = Field(
        None,
        ge=1,
        description="LightGBM and XGBoost: stop adding trees when the validation loss has not improved for this "
        "many rounds, on a validation part cut from the training rows (never the holdout), then refit on all the "
        "training rows with the number of trees found",
    )

    @model_validator(mode="before")
    @classmethod
    def _boosting_defaults(cls, data: object) -> object:
        """LightGBM, XGBoost and CatBoost take categorical columns as categories and nulls as they are unless the spec says
        otherwise: on the flights both beat one-hot/ordinal and median imputation (docs/benchmarks.md)."""
        if not isinstance(data, dict) or data.get("estimator") not in BOOSTING:
            return data
        given = data.get("preprocessing")
        if given is not None and not isinstance(given, dict):
            return data  # a built Preprocessing (or a wrong type, which the field reports)
        pre = dict(given or {})
        for part, key, value in (("categorical", "encoding", "native"), ("numeric", "impute", "none")):
            section = pre.get(part, {})
            if isinstance(section, dict) and key not in section:
                pre[part] = {**section, key: value}
        return {**data, "preprocessing": pre}

    @model_validator(mode="after")
    def _search_or_candidates(self) -> Model:
        if self.search is None:
            return self
        if self.candidates:
            raise PydanticCustomError(
                "conflict",
                "search and candidates both choose the model's params on validation: keep search (it explores a "
                "space), or keep candidates (a hand-picked list) and remove search; to try a hand-picked set "
                "inside a search, narrow the space",
            )
        pruner = self.search.pruner
        if pruner is not None and pruner.kind != "none" and self.estimator not in BOOSTING:
            raise PydanticCustomError(
                "conflict",
                f"search.pruner: pruning needs an estimator that reports its validation loss as it fits (LightGBM, "
                f"XGBoost, CatBoost); {self.estimator.rsplit('.', 1)[-1]} fits in one go, so no trial could be pruned: remove "
                "pruner (or set kind: none)",
            )
        both = sorted(set(self.search.space) & set(self.params))
        if both:
            raise PydanticCustomError(
                "conflict",
                f"{', '.join(both)} is both fixed in model.params and searched in model.search.space: remove it "
                "from one of them",
            )
        return self

    def pruner(self) -> Pruner | None:
        """The search's pruner in effect: the spec's, else the median rule for an estimator that reports as it fits
        (LightGBM, XGBoost, CatBoost); None when nothing is pruned."""
        if self.search is None:
            return None
        chosen = self.search.pruner or (Pruner() if self.estimator in BOOSTING else None)
        return chosen if chosen is not None and chosen.kind != "none" else None


class Registry(Strict):
    model_name: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            max_length=128,
            description="Letters, digits, '.', '_' and '-': it also names files (locks, reports), never a path",
        ),
    ]


class Guardrail(Strict):
    """A metric the challenger may not worsen too much (max_drop) or push past an absolute bound."""

    metric: str
    max_drop: float | None = Field(None, ge=0, description="Largest allowed worsening against the champion")
    min: float | None = Field(None, description="The challenger's value may not be below this")
    max: float | None = Field(None, description="The challenger's value may not be above this")


class Bootstrap(Strict):
    """A seeded paired bootstrap of the primary metric's improvement on the holdout: promotion needs the
    interval's lower bound above min_improvement, so a model better by noise alone is not promoted."""

    resamples: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: Seed = 0


class SliceGuardrail(Strict):
    """The metric on each value of `column` may not worsen by more than max_drop against the champion."""

    column: str
    metric: str | None = Field(None, description="Defaults to promotion.metric")
    max_drop: float = Field(ge=0)
    min_rows: int = Field(50, ge=1, description="Slices with fewer holdout rows are not judged")


class Approval(Strict):
    """auto: the policy decides; manual: a person approves a promotion in the Prefect UI or with `mlops
    approve` (the declared timeout rejects); dry_run: decide and record, never move an alias."""

    mode: Literal["auto", "manual", "dry_run"] = "auto"
    timeout_seconds: int = Field(3600, ge=10)


class Promotion(Strict):
    metric: str
    direction: Direction | None = Field(None, description="Defaults to the metric's natural direction")
    min_improvement: float = Field(0.0, ge=0, description="Absolute improvement needed over the champion")
    min_relative_improvement: float | None = Field(
        None, ge=0, description="Improvement needed as a fraction of the champion's value (0.01 = 1%)"
    )
    min_holdout_rows: int = Field(30, ge=1, description="Fewer holdout rows than this: no promotion")
    bootstrap: Bootstrap | None = None
    guardrails: list[Guardrail] = Field(default_factory=list)
    slice_guardrails: list[SliceGuardrail] = Field(default_factory=list)
    approval: Approval = Field(default_factory=Approval)
    on_champion_error: Literal["reject", "promote"] = Field(
        "reject",
        description="What to do when the champion cannot score the holdout (e.g. its inputs changed)",
    )


class Monitoring(Strict):
    """Read by the monitor flow: when a batch counts as drifted and what to do then."""

    drift_share_threshold: Annotated[float, Field(ge=0, le=1)] = 0.3
    on_drift: Literal["alert", "retrain"] = "alert"
    max_sample_rows: int = Field(50_000, ge=100, description="Rows per side compared (seeded sample)")
    max_quality_drop: float | None = Field(
        None,
        ge=0,
        description="Largest allowed worsening of promotion.metric (realised on a labelled batch, else estimated) "
        "below the champion's holdout figure; more asks for a retrain (the 'act' of the verdict). Default: the "
        "champion's own floor, what it scores on 95% of batches of the batch's size drawn from its holdout",
    )
    drift_measure: Literal["share", "weighted"] = Field(
        "weighted",
        description="What alert_drift_share measures: the raw share of drifted features, or the share weighted by "
        "each feature's importance to the champion",
    )
    alert_drift_share: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None,
        description="Alert (the 'look' of the verdict) when drift_measure reaches this; default: "
        "drift_share_threshold on the raw share",
    )
    retrain_on: Literal["quality", "drift", "both"] = Field(
        "quality",
        description="What makes on_drift: retrain retrain: a quality drop beyond max_quality_drop or the champion's "
        "floor (quality; without a quality figure the drift rule decides), drift alone (drift), or either (both)",
    )
    column_methods: dict[str, str] = Field(
        default_factory=dict, description="Evidently stattest per column, e.g. {distance: psi}"
    )
    column_thresholds: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="Drift threshold per column"
    )
    retrain_window_days: int | None = Field(
        None, ge=1, description="A drift-triggered retrain trains on the last N days before the batch's end"
    )
    cooldown_days: float = Field(
        28,
        ge=0,
        description="After a drift-triggered retrain PROMOTED a new champion, drift within this many days (data "
        "time) triggers no other; a rejected or failed one starts no cooldown",
    )
    max_retries_per_episode: int = Field(
        3,
        ge=1,
        le=20,
        description="Drift retrains tried per drift episode while none is promoted; then the monitor only alerts",
    )
    on_unjudgeable: Literal["alert", "drift", "stop"] = Field(
        "alert",
        description="A feature column no drift test can judge (all null, a single value where the reference had "
        "several, another kind of value): alert whatever the drift share (alert, the default: a broken feed is a "
        "finding), only count it as drifted in the share (drift), or stop the batch with an error naming it (stop)",
    )
    seed: Seed = 0
    min_label_share: Annotated[float, Field(gt=0, le=1)] = Field(
        0.8,
        description="With a labels section: a prediction period's realised quality is judged only once this "
        "share of its predictions has a label (below it the report shows the share and waits)",
    )

    @model_validator(mode="after")
    def _no_conflict(self) -> Monitoring:
        """Fields that contradict each other are refused, each with the fix (mlops.verdict_policy reads them)."""
        given = self.model_fields_set
        if "retrain_on" in given and self.on_drift == "alert":
            default = "" if "on_drift" in given else " (the default)"
            raise PydanticCustomError(
                "conflict",
                f"retrain_on: {self.retrain_on} says when to retrain, but on_drift is alert{default}, which never "
                "retrains: set on_drift: retrain, or remove retrain_on",
            )
        if "drift_measure" in given and self.alert_drift_share is None:
            raise PydanticCustomError(
                "conflict",
                f"drift_measure: {self.drift_measure} chooses what alert_drift_share measures, but "
                "alert_drift_share is not set: add it (e.g. alert_drift_share: 0.3), or remove drift_measure",
            )
        return self


class When(Strict):
    """When one deployment runs: a cron string or an interval (none: no schedule, runs start on demand with
    `mlops trigger`). Prefect's own schedule models check the values when prefect.yaml is generated."""

    cron: str | None = Field(None, description="Five fields: minute hour day-of-month month day-of-week")
    interval: int | None = Field(None, ge=1, description="Seconds between runs")
    anchor_date: datetime | None = Field(None, description="With interval: the first run's time")
    active: bool = Field(True, description="false: declared but off until switched on in the Prefect UI")

    @model_validator(mode="after")
    def _one_kind(self) -> When:
        if self.cron is not None and self.interval is not None:
            raise PydanticCustomError("conflict", "give cron or interval, not both")
        if self.anchor_date is not None and self.interval is None:
            raise PydanticCustomError(
                "conflict", "anchor_date goes with interval: add interval, or remove it"
            )
        return self


class BatchWhen(When):
    """A scheduled monitor or predict run, and the data it reads: a batch file (or glob) or a window of the
    spec's source (ISO dates; end excluded)."""

    batch: str | None = None
    start: str | None = None
    end: str | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        """YAML reads `2013-07-01` as a date and `2013` as a number: both are kept as the text written."""
        return (
            value.isoformat() if isinstance(value, date) else str(value) if isinstance(value, int) else value
        )

    @model_validator(mode="after")
    def _batch_or_window(self) -> BatchWhen:
        if self.batch is not None and (self.start is not None or self.end is not None):
            raise PydanticCustomError("conflict", "give batch, or start and end, not both")
        return self


class Schedule(Strict):
    """When the pipeline's deployments run. prefect.yaml is generated from this (`mlops deploy --write`): every
    spec gets its retrain (with the drift trigger), monitor and predict deployments."""

    timezone: str = Field("UTC", description="IANA time zone of the cron strings and anchor dates")
    retrain: When = When()
    monitor: BatchWhen = BatchWhen()
    predict: BatchWhen = BatchWhen()


class PipelineSpec(Strict):
    name: Name
    description: str = ""
    data: Data
    quality: Quality | None = None
    model: Model
    registry: Registry
    promotion: Promotion
    monitoring: Monitoring = Monitoring()
    schedule: Schedule = Schedule()
    labels: Labels | None = None

    @model_validator(mode="after")
    def _labels_need_an_id(self) -> PipelineSpec:
        """Labels that arrive later are joined to the predictions by an id: without data.id_column there is none."""
        if self.labels is not None and self.data.id_column is None:
            raise PydanticCustomError(
                "missing_id",
                "labels: joining labels to predictions needs an id: add data.id_column (the column that "
                "identifies a row, e.g. flight_id), or remove the labels section",
            )
        if (
            self.labels is not None
            and self.labels.source.kind in ("csv", "parquet")
            and not self.labels.source.path
        ):
            raise PydanticCustomError(
                "labels_source", "labels.source: give the labels' path (a file, a glob or a folder)"
            )
        if self.labels is not None and self.labels.source.kind == "builtin":
            raise PydanticCustomError(
                "labels_source",
                "labels.source: a bundled dataset holds no labels of yours; give a csv or parquet path",
            )
        return self

    @property
    def direction(self) -> Direction:
        return self.promotion.direction or METRICS[self.promotion.metric][1]
