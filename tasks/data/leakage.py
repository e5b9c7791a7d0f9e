"""How well each column alone predicts the target (pandas, scikit-learn): the figure behind `mlops init` leaving a
probable leak out, and `mlops validate` warning about one a spec trains on.

On a seeded sample of the labelled rows, a seeded 70/30 split; a numeric column is fitted by a shallow decision
tree (depth 4) on that column alone, a text or true/false column by its per-value target rate (or mean) learnt on
the 70% (a value not seen there gets the overall rate). The score is the 30%'s ROC AUC (classification; one class
against the rest, averaged, for several classes) or R2 (regression). A column that alone scores near perfectly
is rarely a cause known before the outcome; mostly it is the outcome written another way (a severity code whose
top value means "killed", a closing date, a refund amount)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mlops.init_policy import Alone

SAMPLE_ROWS = 20_000
HOLDOUT_SHARE = 0.3
TREE_DEPTH = 4
MIN_ROWS = 40  # fewer labelled rows: no figure (a tiny sample predicts anything by chance)


def alone_scores(
    frame: pd.DataFrame, target: str, task: str, columns: Iterable[str], seed: int = 42
) -> dict[str, Alone]:
    """{column: its one-column model's holdout score} for `columns` of `frame` (columns that cannot be scored are
    left out: a single value, too few rows, a class missing from one side)."""
    labelled = frame[frame[target].notna()]
    if len(labelled) > SAMPLE_ROWS:
        labelled = labelled.sample(SAMPLE_ROWS, random_state=seed)
    if len(labelled) < MIN_ROWS:
        return {}
    rng = np.random.default_rng(seed)
    test = rng.random(len(labelled)) < HOLDOUT_SHARE
    y = labelled[target]
    y_train, y_test = y[~test], y[test]
    classification = task == "classification"
    if classification and (y_train.nunique() < 2 or y_test.nunique() < 2):
        return {}
    out: dict[str, Alone] = {}
    for col in columns:
        if col not in labelled.columns or col == target:
            continue
        x = labelled[col]
        if x.nunique() < 2:
            continue
        try:
            score = _score(x[~test], y_train, x[test], y_test, classification, seed)
        except (ValueError, TypeError):  # a value sklearn cannot take: no figure, nothing claimed
            continue
        if score is not None and np.isfinite(score):
            metric = "roc_auc" if classification else "r2"
            out[str(col)] = Alone(metric, round(float(score), 4), len(labelled))
    return out


def _score(
    x_train: pd.Series,
    y_train: pd.Series,
    x_test: pd.Series,
    y_test: pd.Series,
    classification: bool,
    seed: int,
) -> float | None:
    from sklearn.metrics import r2_score, roc_auc_score

    classes = sorted(y_train.unique().tolist(), key=str)
    if classification and set(y_test.unique().tolist()) - set(classes):
        return None
    numeric = pd.api.types.is_numeric_dtype(x_train) and not pd.api.types.is_bool_dtype(x_train)
    if numeric:
        predicted = _tree(x_train, y_train, x_test, classification, seed)
    else:
        predicted = _per_value(x_train, y_train, x_test, classification, classes)
    if not classification:
        return float(r2_score(y_test.astype(float), predicted))
    if len(classes) == 2:
        return float(roc_auc_score((y_test == classes[1]).to_numpy(), predicted[:, 1]))
    return float(roc_auc_score(y_test.to_numpy(), predicted, multi_class="ovr", labels=classes))


def _tree(
    x_train: pd.Series, y_train: pd.Series, x_test: pd.Series, classification: bool, seed: int
) -> np.ndarray:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    # a missing value is a value of its own (below every number), as a tree that learns from it would see it
    low = float(pd.concat([x_train, x_test]).min()) - 1.0
    a = x_train.astype(float).fillna(low).to_numpy().reshape(-1, 1)
    b = x_test.astype(float).fillna(low).to_numpy().reshape(-1, 1)
    if classification:
        clf = DecisionTreeClassifier(max_depth=TREE_DEPTH, min_samples_leaf=5, random_state=seed)
        clf.fit(a, y_train.astype(str).to_numpy())
        proba = clf.predict_proba(b)
        # columns in the order of the sorted class names (as text): the same order `classes` has for text
        order = {str(c): i for i, c in enumerate(clf.classes_)}
        names = sorted(y_train.unique().tolist(), key=str)
        return np.column_stack([proba[:, order[str(c)]] for c in names])
    reg = DecisionTreeRegressor(max_depth=TREE_DEPTH, min_samples_leaf=5, random_state=seed)
    reg.fit(a, y_train.astype(float).to_numpy())
    return np.asarray(reg.predict(b))


def _per_value(
    x_train: pd.Series, y_train: pd.Series, x_test: pd.Series, classification: bool, classes: list[object]
) -> np.ndarray:
    """Each value's target rate (or mean) on the training part, a missing value being a value of its own."""
    key_train = x_train.astype(object).where(x_train.notna(), "\x00missing").astype(str)
    key_test = x_test.astype(object).where(x_test.notna(), "\x00missing").astype(str)
    if not classification:
        y = y_train.astype(float)
        means = y.groupby(key_train.to_numpy()).mean()
        return key_test.map(means).fillna(float(y.mean())).to_numpy()
    dummies = pd.DataFrame({str(c): (y_train == c).astype(float).to_numpy() for c in classes})
    rates = dummies.groupby(key_train.to_numpy()).mean()
    overall = dummies.mean()
    looked_up = rates.reindex(key_test.to_numpy())
    return looked_up.fillna(overall).to_numpy()
