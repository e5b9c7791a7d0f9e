"""The [boost] extra's estimators (issue 27): in the catalog only when installed, and a spec naming one where it
is not installed is told which extra to install; their options (native categories, early stopping) are refused
with the estimators that do not have them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops import catalog
from mlops.spec import load_spec
from tests.conftest import REPO, spec_problems, spec_text, write_spec


def boost_spec(
    estimator: str = "lightgbm.LGBMClassifier", params: str = "{n_estimators: 50}", **model: str
) -> str:
    text = spec_text(estimator=estimator, params=params, suite=None)
    lines = "".join(f"  {k}: {v}\n" for k, v in model.items())
    return text.replace("  preprocessing: {numeric: {scale: true}}\n", lines or "")


def test_the_installed_extras_estimators_are_in_the_catalog_for_their_task() -> None:
    found = catalog.estimators()
    for path, (task, extra) in catalog.OPTIONAL_ESTIMATORS.items():
        assert extra == "boost"
        assert found[path] == task, path  # the dev extra installs [boost]
    assert "lightgbm.LGBMRegressor" in catalog.estimators_for("regression")
    assert "lightgbm.LGBMRegressor" not in catalog.estimators_for("classification")


def test_a_spec_naming_an_installed_boosting_estimator_is_valid(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, boost_spec(early_stopping_rounds="10"))).spec
    assert spec.model.estimator == "lightgbm.LGBMClassifier" and spec.model.early_stopping_rounds == 10


def test_checking_a_spec_does_not_import_the_boosting_libraries(tmp_path: Path) -> None:
    path = write_spec(tmp_path, boost_spec())
    code = (
        "import sys; from mlops.spec import load_spec; from mlops import catalog; "
        f"load_spec({str(path)!r}); catalog.estimators(); "
        "print(sorted(m for m in ('lightgbm', 'xgboost', 'catboost', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("estimator", ["xgboost.XGBClassifier", "catboost.CatBoostClassifier"])
def test_a_spec_naming_a_boosting_estimator_without_the_extra_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, estimator: str
) -> None:
    monkeypatch.setattr(catalog, "installed", lambda path: False)  # as in an environment without [boost]
    assert "xgboost.XGBRegressor" not in catalog.estimators()
    assert "catboost.CatBoostRegressor" not in catalog.estimators()
    (msg,) = spec_problems(write_spec(tmp_path, boost_spec(estimator)))
    assert f"model.estimator: '{estimator}' needs the optional 'boost' extra" in msg
    assert f"{estimator.split('.')[0]} is not installed" in msg
    assert 'pip install -e ".[boost]"' in msg
    assert "sklearn.ensemble.HistGradientBoostingClassifier" in msg  # the alternative, for the spec's task
    assert "is not an allowed estimator" not in msg  # it is allowed: it is just not installed here


def test_validate_refuses_it_in_one_paragraph_with_exit_code_2(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.cli import app

    monkeypatch.setattr(catalog, "installed", lambda path: not path.startswith("lightgbm"))
    path = project / "deployments" / "cancer.yaml"
    path.write_text(boost_spec("lightgbm.LGBMClassifier"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "1 problem(s)" in said and "needs the optional 'boost' extra" in said, said
    assert 'pip install -e ".[boost]"' in said, said
    assert "Traceback" not in said


def test_a_misspelt_boosting_class_gets_the_nearest_name(tmp_path: Path) -> None:
    (msg,) = spec_problems(write_spec(tmp_path, boost_spec("lightgbm.LGBMClasifier")))
    assert "did you mean 'lightgbm.LGBMClassifier'?" in msg


def test_native_categories_need_an_estimator_that_splits_on_categories(tmp_path: Path) -> None:
    native = "{categorical: {encoding: native}}"
    (msg,) = spec_problems(
        write_spec(
            tmp_path, boost_spec("sklearn.linear_model.LogisticRegression", "{}", preprocessing=native)
        )
    )
    assert "model.preprocessing.categorical.encoding: 'native' needs an estimator" in msg
    assert "lightgbm.LGBMClassifier" in msg and "HistGradientBoostingClassifier" in msg
    for ok in (
        "lightgbm.LGBMClassifier",
        "xgboost.XGBClassifier",
        "catboost.CatBoostClassifier",
        "sklearn.ensemble.HistGradientBoostingClassifier",
    ):
        load_spec(write_spec(tmp_path, boost_spec(ok, "{}", preprocessing=native)))


def test_early_stopping_needs_a_boosting_estimator(tmp_path: Path) -> None:
    text = boost_spec("sklearn.ensemble.HistGradientBoostingClassifier", "{}", early_stopping_rounds="20")
    (msg,) = spec_problems(write_spec(tmp_path, text))
    assert "model.early_stopping_rounds" in msg and "n_iter_no_change" in msg
    (msg,) = spec_problems(write_spec(tmp_path, boost_spec(early_stopping_rounds="0")))
    assert "model.early_stopping_rounds" in msg


# --- mlops init (issue 27 item 3) -------------------------------------------------------------------------------


def test_init_proposes_lightgbm_with_early_stopping_when_the_extra_is_installed_and_says_so() -> None:
    from mlops.init_policy import ColumnProfile, model_section, plan
    from mlops.spec.schema import Model

    columns = [
        ColumnProfile("x", "numeric", 500, distinct=400),
        ColumnProfile("colour", "text", 500, distinct=3, values=["b", "g", "r"]),
        ColumnProfile("y", "text", 500, distinct=2, values=["no", "yes"], smallest=100),
    ]
    without = plan(columns, "y", None)
    assert without.estimator.value == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert 'pip install -e ".[boost]"' in without.estimator.why  # how to get the other proposal
    assert model_section(without)["params"] == {} and "early_stopping_rounds" not in model_section(without)
    boosted = plan(columns, "y", None, boosting=True)
    assert boosted.estimator.value == "lightgbm.LGBMClassifier"
    assert (
        "boost extra is installed" in boosted.estimator.why and "never the holdout" in boosted.estimator.why
    )
    section = model_section(boosted)
    model = Model.model_validate(section)  # what init writes is a valid spec's model
    assert model.early_stopping_rounds == 20 and model.preprocessing.categorical.encoding == "native"
    regression = plan(
        [columns[0], columns[1], ColumnProfile("y", "numeric", 500, distinct=450)], "y", None, boosting=True
    )
    assert regression.estimator.value == "lightgbm.LGBMRegressor"


def test_a_param_option_of_mlops_run_takes_catboosts_names_and_points_its_aliases_to_them(
    tmp_path: Path,
) -> None:
    """CatBoost's get_params() is empty until a param is set: the option is checked against its constructor's
    names, less the aliases the spec refuses too."""
    from mlops.cli.params import override_problems

    loaded = load_spec(write_spec(tmp_path, boost_spec("catboost.CatBoostClassifier", "{n_estimators: 50}")))
    assert override_problems(loaded, {"max_depth": 4, "learning_rate": 0.1}) == []
    (alias,) = override_problems(loaded, {"iterations": 20})
    assert alias.startswith("--param iterations: CatBoostClassifier has no parameter 'iterations'") and (
        "another name for 'n_estimators'" in alias
    ), alias
    (stop,) = override_problems(loaded, {"od_wait": 20})
    assert "early stopping is model.early_stopping_rounds" in stop, stop
    (typo,) = override_problems(loaded, {"max_dept": 4})
    assert typo.endswith("did you mean 'max_depth'?"), typo
