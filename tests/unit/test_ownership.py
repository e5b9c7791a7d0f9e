"""Issue #12 item 5: a model belongs to one pipeline. The pure comparisons: owner tags, a spec against the
recorded owner, specs sharing a model_name, and a challenger whose inputs differ from the champion's."""

from __future__ import annotations

import pytest

from mlops.errors import SpecError
from mlops.ownership import (
    Owner,
    check_ownership,
    feature_changes,
    note_feature_changes,
    shared_model_names,
)
from mlops.policy import decide
from mlops.spec import Promotion

A = Owner("a", "deployments/a.yaml", "classification", "delayed", ("dep_delay", "distance"))
B = Owner("b", "deployments/b.yaml", "regression", "arr_delay")


def test_owner_tags_round_trip() -> None:
    tags = A.tags()
    assert tags["mlops.owner.pipeline"] == "a" and tags["mlops.owner.features"] == "dep_delay,distance"
    assert Owner.from_tags({**tags, "other": "x"}) == A
    assert Owner.from_tags({"other": "x"}) is None


def test_a_new_model_or_its_own_pipeline_passes() -> None:
    assert check_ownership("x", A, None) == []
    assert check_ownership("x", A, A.tags()) == []
    moved = Owner("a", "pipelines/a.yaml", "classification", "delayed")
    assert check_ownership("x", moved, A.tags()) == []  # same pipeline, file moved: still its model


def test_another_pipelines_model_is_refused_naming_both_specs() -> None:
    with pytest.raises(SpecError) as caught:
        check_ownership("x", B, A.tags())
    assert caught.value.exit_code == 2
    text = str(caught.value)
    assert text.startswith("deployments/b.yaml: registry.model_name: 'x' belongs to pipeline 'a'")
    assert "(deployments/a.yaml, classification of 'delayed')" in text
    assert "choose another registry.model_name" in text


def test_the_same_pipeline_with_another_target_needs_a_new_model_name() -> None:
    changed = Owner("a", "deployments/a.yaml", "classification", "cancelled")
    with pytest.raises(SpecError, match="choose a new registry.model_name") as caught:
        check_ownership("x", changed, A.tags())
    assert "classification of 'delayed'" in str(caught.value) and "'cancelled'" in str(caught.value)


def test_a_model_without_owner_tags_is_claimed_with_a_note() -> None:
    (note,) = check_ownership("x", A, {"some.other": "tag"})
    assert "records no owner" in note and "pipeline 'a'" in note


def test_specs_sharing_a_model_name_are_each_told_the_other() -> None:
    problems = shared_model_names({"a.yaml": ("x", A), "b.yaml": ("x", B), "c.yaml": ("y", A)})
    assert set(problems) == {"a.yaml", "b.yaml"}
    assert "'x' is also the model of pipeline 'b' (deployments/b.yaml" in problems["a.yaml"][0].render()
    assert "'x' is also the model of pipeline 'a' (deployments/a.yaml" in problems["b.yaml"][0].render()


def test_changed_inputs_are_said_in_the_decision() -> None:
    assert feature_changes(["a", "b"], ["b", "a"]) is None
    assert feature_changes([], ["a"]) is None  # no champion: nothing to compare
    text = feature_changes(["a", "b"], ["b", "c"])
    assert text is not None and "added c" in text and "removed a" in text
    d = decide({"roc_auc": 0.9}, {"roc_auc": 0.8}, Promotion(metric="roc_auc"))
    noted = note_feature_changes(d, ["a", "b"], ["a", "b", "c"])
    assert noted.promote and noted.reasons[:-1] == d.reasons and "added c" in noted.reasons[-1]
    assert note_feature_changes(d, ["a"], ["a"]) is d


def test_validate_refuses_a_folder_where_two_specs_share_a_model_name(project) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from mlops.cli import app
    from tests.conftest import spec_text

    folder = project / "deployments"
    other = spec_text(name="other").replace("model_name: other-model", "model_name: cancer-model")
    (folder / "other.yaml").write_text(other)
    result = CliRunner().invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    err = " ".join(result.stderr.split())
    assert (
        f"{folder / 'cancer.yaml'}: registry.model_name: 'cancer-model' is also the model of pipeline 'other'"
        in err
    )
    assert (
        f"{folder / 'other.yaml'}: registry.model_name: 'cancer-model' is also the model of pipeline 'cancer'"
        in err
    )
    assert "choose a registry.model_name of its own" in err
    assert err.count("is also the model of") == 2  # once per spec, though each also sees its sibling

    from mlops.cli.checks import check_spec  # the pre-flight of `mlops run` checks the spec's folder too

    _, problems = check_spec(folder / "other.yaml")
    assert [p.path for p in problems] == ["registry.model_name"], problems

    (folder / "other.yaml").write_text(spec_text(name="other"))
    assert CliRunner().invoke(app, ["validate", str(folder)]).exit_code == 0
