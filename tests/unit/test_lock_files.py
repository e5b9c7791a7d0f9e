"""Issue 24: an OS lock file that cannot be one (a folder in its place, its folder a regular file) is a one-paragraph
error naming the path, never a traceback: the promotion lock and the MLflow store's creation lock alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.errors import MlopsError
from tasks.locking import file_lock, holding_promotion_lock, promotion_lock


def test_a_lock_file_is_taken_and_released(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "x.lock"
    with file_lock(path, 1, "busy"):
        assert path.is_file()
    with file_lock(path, 1, "busy"):  # released: taken again at once
        pass


def test_a_folder_in_place_of_the_lock_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "x.lock"
    path.mkdir(parents=True)
    expected = f"the lock file {path} is a folder, not a file; it must be a file"
    with pytest.raises(MlopsError, match=expected), file_lock(path, 1, "busy"):
        pass


def test_a_regular_file_in_place_of_the_locks_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "locks").write_text("not a folder")
    path = tmp_path / "locks" / "x.lock"
    with pytest.raises(MlopsError, match="which is a file, not a folder"), file_lock(path, 1, "busy"):
        pass
    assert (tmp_path / "locks").read_text() == "not a folder"


def test_the_promotion_lock_that_is_a_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    (tmp_path / "locks" / "promote-m.lock").mkdir(parents=True)
    with pytest.raises(MlopsError) as caught, promotion_lock("m", timeout=1):
        pass
    assert f"the lock file {tmp_path / 'locks' / 'promote-m.lock'} is a folder" in str(caught.value)
    assert caught.value.exit_code == 1


def test_the_store_creation_lock_that_is_a_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.settings import get_settings
    from tasks.tracking import store

    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "locks" / "store-init.lock").mkdir(parents=True)
    with pytest.raises(MlopsError, match="store-init.lock is a folder, not a file"):
        store._create_store_once(get_settings())


def test_a_retrain_lets_go_of_the_promotion_lock_while_a_person_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25 item 4: the retrain's hold on the lock, released around the approval and taken again after it, with
    what a killed run left undone first each time it is taken."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    path = tmp_path / "locks" / "promote-m.lock"
    taken: list[str] = []

    def busy() -> bool:
        try:
            with file_lock(path, 0.3, "busy"):
                return False
        except MlopsError:
            return True

    with holding_promotion_lock("m", on_take=taken.append, timeout=1) as lock:
        assert busy() and taken == ["m"]
        with lock.released():
            assert not busy()  # e.g. `mlops rollback` while the approval waits
        assert busy() and taken == ["m", "m"]  # taken again, and the undo ran again under it
        with pytest.raises(RuntimeError), lock.released():
            raise RuntimeError("the approval timed out")
        assert not busy() and taken == ["m", "m"]  # a failed wait leaves it released: nothing retaken
    assert not busy()


def test_the_promotion_lock_is_let_go_when_the_first_undo_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    def fails(_: str) -> None:
        raise RuntimeError("tracking server down")

    with pytest.raises(RuntimeError), holding_promotion_lock("m", on_take=fails, timeout=1):
        pass
    with file_lock(tmp_path / "locks" / "promote-m.lock", 0.3, "busy"):  # free again
        pass
