"""Files in object storage (`s3://`), against moto's S3 server (the S3 HTTP protocol on 127.0.0.1; the same path
serves AWS, MinIO or R2 through AWS_ENDPOINT_URL): retrain from CSV and Parquet objects, monitor a window of a
Parquet folder (only its files read), predict writing its output whole to the store, and the bad cases (a missing
object, no credentials, refused credentials, an endpoint that does not answer) each one paragraph, nothing
registered, the secret never printed."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import free_port
from tests.integration.test_parquet_dataset import SPEC, _frame, _project

pytestmark = pytest.mark.integration

SECRET = "s3-secret-never-shown-9f2c"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in a thread of this process, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A new bucket, the AWS variables pointing at the server; a boto3 client to put and list objects."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="testing", aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )  # fmt: skip
    name = f"b-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    client.bucket_name = name
    return client


def _put_parquet(client: Any, key: str, frame: pd.DataFrame) -> None:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    client.put_object(Bucket=client.bucket_name, Key=key, Body=buf.getvalue())


def _keys(client: Any) -> list[str]:
    """The objects of the bucket, less the empty folder markers pyarrow's S3 file system leaves ('out/')."""
    listed = client.list_objects_v2(Bucket=client.bucket_name)
    return sorted(o["Key"] for o in listed.get("Contents", []) if not o["Key"].endswith("/"))


def _spec(tmp_path: Path, source: str, kind: str = "parquet") -> str:
    root = _project(tmp_path, "X")
    text = SPEC.format(path="X").replace("{kind: parquet, path: X}", f"{{kind: {kind}, path: '{source}'}}")
    (root / "deployments" / "trips.yaml").write_text(text)
    return str(root / "deployments" / "trips.yaml")


def _hive(client: Any, frame: pd.DataFrame) -> str:
    parts = frame.assign(year=frame["ts"].dt.year, month=frame["ts"].dt.month)
    for (year, month), part in parts.groupby(["year", "month"]):
        _put_parquet(
            client, f"trips/year={year}/month={month}/part-0.parquet", part.drop(columns=["year", "month"])
        )
    return f"s3://{client.bucket_name}/trips"


@pytest.mark.usefixtures("prefect_harness")
def test_retrain_from_csv_and_parquet_objects(tmp_path: Path, bucket: Any) -> None:
    from mlflow import MlflowClient

    from flows.retrain import retrain
    from mlops.settings import get_settings

    frame = _frame()
    bucket.put_object(Bucket=bucket.bucket_name, Key="csv/trips.csv", Body=frame.to_csv(index=False).encode())
    _put_parquet(bucket, "pq/trips.parquet", frame)

    from_csv = retrain(_spec(tmp_path / "a", f"s3://{bucket.bucket_name}/csv/trips.csv", "csv"))
    assert from_csv.decision.promote
    run = MlflowClient(get_settings().tracking_uri).get_run(from_csv.run_id)
    sources = {i.dataset.source for i in run.inputs.dataset_inputs}
    assert all(f"s3://{bucket.bucket_name}/csv/trips.csv" in s for s in sources), sources

    spec = _spec(tmp_path / "b", f"s3://{bucket.bucket_name}/pq/*.parquet")
    first = retrain(spec)
    again = retrain(spec)  # the same content read again: the same data identity, nothing new registered
    assert again.duplicate_of == first.version


@pytest.mark.usefixtures("prefect_harness")
def test_monitor_a_window_of_a_parquet_folder_in_the_store(tmp_path: Path, bucket: Any) -> None:
    import pyarrow.dataset as ds

    from flows.monitor import monitor
    from flows.retrain import retrain
    from mlops.spec import load_spec
    from tasks.data import load_batch
    from tasks.data.dataset import window_filter
    from tasks.objects import filesystem

    frame = _frame()
    uri = _hive(bucket, frame)
    spec = _spec(tmp_path, uri)

    july = load_batch(load_spec(spec), start="2013-07-01", end="2013-08-01")
    expected = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")]
    assert len(july) == len(expected) > 50
    assert list(july.columns) == ["ts", "distance", "temp", "carrier", "origin", "late"]  # not `notes`

    fs, path = filesystem(uri)  # the filter is the read's own: one month's object out of 24 is read
    dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    where = window_filter(dataset.schema, "ts", "2013-07-01", "2013-08-01")
    kept = [rg for f in dataset.get_fragments() for rg in f.split_by_row_group(filter=where)]
    assert len(dataset.files) == 24 and len(kept) == 1

    trained = retrain(spec)
    watched = monitor(spec, start="2013-07-01", end="2013-08-01")
    assert watched.rows == len(expected) and watched.champion_version == trained.version


@pytest.mark.usefixtures("prefect_harness")
def test_predict_writes_its_output_whole_to_the_store(tmp_path: Path, bucket: Any) -> None:
    from flows.predict import predict
    from flows.retrain import retrain

    frame = _frame()
    _put_parquet(bucket, "pq/trips.parquet", frame)
    spec = _spec(tmp_path, f"s3://{bucket.bucket_name}/pq/trips.parquet")
    retrain(spec)
    july = frame[(frame["ts"] >= "2013-07-01") & (frame["ts"] < "2013-08-01")]
    _put_parquet(bucket, "batches/july.parquet", july)

    out = f"s3://{bucket.bucket_name}/out/july.parquet"
    result = predict(spec, out=out, batch=f"s3://{bucket.bucket_name}/batches/july.parquet", chunk_rows=25)
    assert (result.rows, result.scored, result.out) == (len(july), len(july), out)
    assert result.rejects == f"s3://{bucket.bucket_name}/out/july.rejects.csv"
    body = bucket.get_object(Bucket=bucket.bucket_name, Key="out/july.parquet")["Body"].read()
    written = pd.read_parquet(io.BytesIO(body))
    assert list(written["notes"]) == list(july["notes"]) and "prediction" in written.columns
    # the temporary keys are gone: only the batch, the source and the two outputs
    assert _keys(bucket) == [
        "batches/july.parquet",
        "out/july.parquet",
        "out/july.rejects.csv",
        "pq/trips.parquet",
    ]


def test_an_output_is_never_seen_in_part(s3_endpoint: str, bucket: Any, tmp_path: Path) -> None:
    """A failure before the copy leaves the old object as it was and no temporary key."""
    from mlops.errors import MlopsError
    from tasks import objects

    bucket.put_object(Bucket=bucket.bucket_name, Key="out/p.parquet", Body=b"old")
    good = tmp_path / "p.parquet"
    good.write_bytes(b"new")
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(MlopsError, match="nowhere.csv"):
        objects.upload(
            (str(good), f"s3://{bucket.bucket_name}/out/p.parquet"),
            (str(missing), f"s3://{bucket.bucket_name}/out/p.rejects.csv"),
        )
    assert _keys(bucket) == ["out/p.parquet"]
    assert bucket.get_object(Bucket=bucket.bucket_name, Key="out/p.parquet")["Body"].read() == b"old"


def _enforce_auth(endpoint: str, on: bool) -> None:
    """moto's switch for checking credentials (its IAM must know the key), through its server's own API."""
    import urllib.request

    req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0" if on else b"inf", method="POST",
                                 headers={"Content-Type": "text/plain"})  # fmt: skip
    urllib.request.urlopen(req, timeout=10).read()


def _cli(*args: str) -> Any:
    from mlops.cli import app

    return CliRunner().invoke(app, list(args))


def test_validate_checks_the_object_is_there(tmp_path: Path, bucket: Any) -> None:
    _put_parquet(bucket, "pq/trips.parquet", _frame())
    ok = _cli("validate", _spec(tmp_path / "a", f"s3://{bucket.bucket_name}/pq/trips.parquet"))
    assert ok.exit_code == 0, ok.output

    missing = _cli("validate", _spec(tmp_path / "b", f"s3://{bucket.bucket_name}/pq/nothing.parquet"))
    assert missing.exit_code == 2 and "no such object" in missing.output, missing.output
    assert "data.source.path" in missing.output and "Traceback" not in missing.output


@pytest.mark.usefixtures("prefect_harness")
def test_the_bad_cases_are_one_paragraph_nothing_registered(
    tmp_path: Path, s3_endpoint: str, bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from mlops.settings import get_settings

    _put_parquet(bucket, "pq/trips.parquet", _frame())
    spec = _spec(tmp_path, f"s3://{bucket.bucket_name}/pq/trips.parquet")
    store = MlflowClient(get_settings().tracking_uri)
    before = [(m.name, m.latest_versions) for m in store.search_registered_models()]

    gone = _cli("run", "retrain", _spec(tmp_path / "m", f"s3://{bucket.bucket_name}/pq/gone.parquet"))
    assert gone.exit_code == 2 and "no such object" in gone.output, gone.output

    no_bucket = _cli("run", "retrain", _spec(tmp_path / "n", "s3://no-such-bucket-here/trips.parquet"))
    assert no_bucket.exit_code == 2 and "no such bucket" in no_bucket.output, no_bucket.output

    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    no_keys = _cli("run", "retrain", spec)
    assert no_keys.exit_code == 2 and "AWS_SECRET_ACCESS_KEY" in no_keys.output, no_keys.output

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    _enforce_auth(s3_endpoint, True)  # moto now checks keys against its IAM, which knows none of ours
    try:
        refused = _cli("run", "retrain", spec)
    finally:
        _enforce_auth(s3_endpoint, False)
    assert refused.exit_code == 2 and "refused" in refused.output and "not retried" in refused.output

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    down = _cli("run", "retrain", spec)
    assert down.exit_code == 1 and "could not be reached" in down.output, down.output
    assert "tried 3 times" in down.output
    checked = _cli("validate", spec)  # the spec is fine: validate says the source is down, as run does
    assert checked.exit_code == 1 and "did not answer" in checked.output, checked.output

    for result in (gone, no_bucket, no_keys, refused, down, checked):
        assert SECRET not in result.output and "Traceback" not in result.output
    assert [(m.name, m.latest_versions) for m in store.search_registered_models()] == before


def test_an_output_that_is_an_input_is_refused(tmp_path: Path, bucket: Any) -> None:
    _put_parquet(bucket, "pq/trips.parquet", _frame())
    spec = _spec(tmp_path, f"s3://{bucket.bucket_name}/pq/")
    same = _cli("run", "predict", spec, "--start", "2013-07-01", "--end", "2013-08-01",
                "--out", f"s3://{bucket.bucket_name}/pq/preds.parquet")  # fmt: skip
    assert same.exit_code == 2 and "reads its data from" in same.output, same.output
    batch = _cli("run", "predict", spec, "--batch", f"s3://{bucket.bucket_name}/none.parquet",
                 "--out", f"s3://{bucket.bucket_name}/out/p.parquet")  # fmt: skip
    assert batch.exit_code == 2 and "no such object" in batch.output, batch.output
    assert _keys(bucket) == ["pq/trips.parquet"]


def test_with_no_keys_in_the_environment_the_sdks_own_credentials_are_used(
    tmp_path: Path, s3_endpoint: str, bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team on AWS gives credentials by a profile or a role, not by keys in the environment: with neither key set,
    pyarrow's AWS SDK chain finds them (here a shared credentials file, as AWS_PROFILE or a role would); with none
    found anywhere the store refuses, one paragraph naming every way to give them."""
    import boto3

    from tasks import objects

    iam = boto3.client("iam", endpoint_url=s3_endpoint, aws_access_key_id="testing", aws_secret_access_key=SECRET,
                       region_name="us-east-1")  # fmt: skip
    user = f"u-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument='{"Version": "2012-10-17", "Statement": '
                        '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}')  # fmt: skip
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _put_parquet(bucket, "pq/trips.parquet", _frame())
    spec = _spec(tmp_path, f"s3://{bucket.bucket_name}/pq/trips.parquet")
    profile = tmp_path / "aws-credentials"
    profile.write_text(f"[default]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = "
                       f"{key['SecretAccessKey']}\n")  # fmt: skip
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    _enforce_auth(s3_endpoint, True)  # from here moto checks every request's key against its IAM
    try:
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(profile))
        objects._filesystem.cache_clear()  # a process keeps its file system; this test changes its environment
        found = _cli("validate", spec)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-here"))
        objects._filesystem.cache_clear()
        none = _cli("validate", spec)
    finally:
        _enforce_auth(s3_endpoint, False)
        objects._filesystem.cache_clear()
    assert found.exit_code == 0, found.output
    assert none.exit_code == 2 and "refused" in none.output and "AWS_PROFILE" in none.output, none.output
    assert key["SecretAccessKey"] not in found.output + none.output and "Traceback" not in none.output

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])  # half a pair is a mistake, not a fallback
    half = _cli("validate", spec)
    assert half.exit_code == 2 and "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY" in half.output
