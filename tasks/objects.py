"""Files in object storage (`s3://bucket/key`; `gs://`, `abfs://` through the same calls): the only module that
imports pyarrow.fs. Sources, batches and labels are read through it (pandas and pyarrow.dataset take its file
handles and its file system), and an output is uploaded through it whole or not at all.

S3 is reached with the credentials and the endpoint of mlops.settings (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL: the same path serves AWS, MinIO, R2 or any S3-compatible store);
with no key in the environment, the AWS SDK's own chain finds them (AWS_PROFILE and the shared credentials file, a
web identity token, a container or instance role), as it does for boto3 and the MLflow artifact store;
Google Cloud Storage and Azure through pyarrow's own clients and their own environment. Every request's failure is
one paragraph (mlops.object_store.classify): a missing object or bucket, missing or refused credentials (exit 2,
not retried), an endpoint that does not answer (tried with the bounded policy of mlops.reach, then ServiceDown,
exit 1, which the data steps retry as a Prefect task retry). Credentials are never printed: the messages pass
through mlops.secrets.hide_secrets."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from mlops.errors import MlopsError
from mlops.object_store import Failure, classify, fix_for, parts, temp_key
from mlops.reach import ServiceDown

T = TypeVar("T")

REQUEST_TIMEOUT_SECONDS = 60.0


class ObjectMissing(MlopsError):
    """The object (or its bucket) is not there: a usage error, fixed in the path."""

    exit_code = 2


class NoObjects(ObjectMissing):
    """The bucket answered: no object has that name, under that folder or matching that glob."""


class StorageRefused(MlopsError):
    """The store refused the request (credentials, access, a setting): fixed in the environment, not retried."""

    exit_code = 2


@functools.lru_cache(maxsize=8)
def _filesystem(scheme: str, settings_key: tuple[Any, ...]) -> Any:
    import pyarrow.fs as pafs

    if scheme != "s3":
        fs, _ = pafs.FileSystem.from_uri(f"{scheme}://bucket/")
        return fs
    key, secret, token, region, endpoint, timeout = settings_key
    options: dict[str, Any] = {
        "connect_timeout": float(timeout),
        "request_timeout": REQUEST_TIMEOUT_SECONDS,
        # one try a call: mlops.reach's bounded policy retries an endpoint that does not answer, and says so
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    }
    if key and secret:
        options |= {"access_key": key, "secret_key": secret, "session_token": token}
    if region:
        options["region"] = region
    if endpoint:
        scheme_part, _, host = endpoint.partition("://")
        options |= {
            "endpoint_override": host.rstrip("/") or scheme_part,
            "scheme": scheme_part if host else "https",
        }
    return pafs.S3FileSystem(**options)


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow file system, path inside it) for an object URI (`s3://b/k` -> (S3FileSystem, 'b/k'))."""
    from mlops.settings import Settings

    scheme, bucket, key = parts(uri)
    if scheme == "s3":
        s = Settings.from_environment()
        secret = s.aws_secret_access_key.get_secret_value() if s.aws_secret_access_key else None
        token = s.aws_session_token.get_secret_value() if s.aws_session_token else None
        settings_key: tuple[str | None, ...] = (
            s.aws_access_key_id,
            secret,
            token,
            s.aws_region,
            s.aws_endpoint_url,
            str(s.connect_timeout_seconds),
        )
        if bool(s.aws_access_key_id) != bool(
            secret
        ):  # half a key pair: neither it nor the SDK's chain is used
            given, missing = (
                ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
                if s.aws_access_key_id
                else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
            )
            raise StorageRefused(
                f"{uri}: {given} is set without {missing}; set both, or unset both to use the AWS SDK's own "
                "credentials (AWS_PROFILE, a web identity, a container or instance role). Nothing was read or "
                "written."
            )
    else:
        settings_key = ()
    fs = _filesystem("gs" if scheme == "gcs" else scheme, settings_key)
    return fs, f"{bucket}/{key}".rstrip("/") if key else bucket


def call(uri: str, action: Callable[[], T], doing: str = "read") -> T:
    """`action()` (a request to the store about `uri`), tried with mlops.reach's policy while the endpoint does
    not answer; any failure becomes one paragraph (ObjectMissing, StorageRefused: exit 2; ServiceDown: exit 1)."""
    from mlops.reach import Kind, reach, tried
    from mlops.text import first_line

    done: list[T] = []

    def attempt(_timeout: float) -> None:
        done.append(action())

    def sort(exc: BaseException) -> tuple[Kind, str]:
        if isinstance(exc, MlopsError):
            raise exc
        text = first_line(exc, 400)
        return ("down" if _kind(exc, text) == "unreachable" else "setting"), text

    unreached = reach(attempt, sort)
    if unreached is None:
        return done[-1]
    raise error_for(uri, unreached.detail, doing, tried(unreached))


def _kind(exc: BaseException | None, text: str) -> Failure:
    kind = classify(text)
    if kind == "other" and (isinstance(exc, FileNotFoundError) or "not found" in text.lower()):
        return "missing"
    return kind


def error_for(uri: str, text: str, doing: str = "read", tries: str = "") -> MlopsError:
    """The paragraph for a failed request about `uri` (`text`: the store's error): ServiceDown (exit 1) for an
    endpoint that did not answer, ObjectMissing or StorageRefused (exit 2) otherwise; secrets masked."""
    from mlops.secrets import hide_secrets

    kind = _kind(None, text)
    said = hide_secrets(text) + (f"; {tries}" if tries else "")
    if kind == "unreachable":
        from mlops.settings import Settings

        endpoint = Settings.from_environment().aws_endpoint_url or "the store's default endpoint"
        return ServiceDown(
            f"{uri}: the object store at {hide_secrets(endpoint)} could not be reached ({said}); "
            f"{fix_for(kind, uri)}. Nothing was {doing}."
        )
    error = ObjectMissing if kind == "missing" else StorageRefused
    what = {"missing": "no such object or bucket", "no-credentials": "no credentials", "denied": "refused"}
    return error(
        f"{uri}: {what.get(kind, 'cannot be ' + doing)} ({said}); {fix_for(kind, uri)}. Nothing was {doing}."
    )


def failed_read(uri: str, exc: BaseException) -> MlopsError | None:
    """The paragraph for a read of `uri` that failed part-way (the connection dropped, the credentials expired),
    or None when the store did not fail (the bytes are not CSV or Parquet: the caller says so)."""
    from mlops.text import first_line

    text = first_line(exc, 400)
    return error_for(uri, text) if classify(text) != "other" else None


def info(uri: str) -> Any:
    """The FileInfo of `uri` (one HEAD request): `.type` is File, Directory (a prefix with objects) or NotFound."""
    fs, path = filesystem(uri)
    return call(uri, lambda: fs.get_file_info(path))


def kind_of(uri: str) -> Literal["file", "folder", "none"]:
    """What `uri` is in the store (one HEAD request): an object, a folder (a prefix holding objects), nothing."""
    import pyarrow.fs as pafs

    found = info(uri).type
    return "file" if found == pafs.FileType.File else "folder" if found == pafs.FileType.Directory else "none"


def is_folder(uri: str) -> bool:
    return kind_of(uri) == "folder"


def expand(uri: str) -> list[str]:
    """The objects `uri` names, sorted: the object itself, each object a glob matches (`s3://b/p/*.csv`), or each
    object under a folder (a prefix), hidden names (`.x`, `_SUCCESS`) left out. ObjectMissing when none."""
    import pyarrow.fs as pafs

    scheme = parts(uri)[0]
    fs, path = filesystem(uri)
    magic = any(c in path for c in "*?[")
    if not magic:
        found = call(uri, lambda: fs.get_file_info(path))
        if found.type == pafs.FileType.File:
            return [uri]
        if found.type != pafs.FileType.Directory:
            bucket = path.partition("/")[0]
            if call(uri, lambda: fs.get_file_info(bucket)).type == pafs.FileType.NotFound:
                raise ObjectMissing(
                    f"{uri}: no such bucket '{bucket}'; {fix_for('missing', uri)}. Nothing was read."
                )
            raise NoObjects(f"{uri}: no such object; {fix_for('missing', uri)}. Nothing was read.")
        base, pattern = path, None
    else:
        cut = min(path.index(c) for c in "*?[" if c in path)
        base, pattern = path[:cut].rpartition("/")[0], path
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    listed = call(uri, lambda: fs.get_file_info(selector))
    files = sorted(
        f.path
        for f in listed
        if f.type == pafs.FileType.File
        and not f.base_name.startswith((".", "_"))
        and (pattern is None or fnmatch.fnmatchcase(f.path, pattern))
    )
    if not files:
        raise NoObjects(f"{uri}: no object matches; {fix_for('missing', uri)}. Nothing was read.")
    return [f"{scheme}://{f}" for f in files]


def open_input(uri: str) -> Any:
    """A seekable binary file of the object (pandas and pyarrow read it as they read a local file)."""
    fs, path = filesystem(uri)
    return call(uri, lambda: fs.open_input_file(path))


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)

    def whole() -> bytes:
        with fs.open_input_stream(path) as fh:
            return bytes(fh.readall())

    return call(uri, whole)


def upload(*pairs: tuple[str, str]) -> None:
    """Copy each local file onto its object URI whole or not at all: every file uploaded to a hidden temporary key
    beside its object first, then each copied onto its object inside the store (one request: a reader sees the
    old object or the whole new one, never a part) and the temporary keys deleted, also when anything fails. A
    failure before the copies leaves every object as it was."""
    import contextlib

    import pyarrow.fs as pafs

    staged = []
    try:
        for local, uri in pairs:
            fs, path = filesystem(uri)
            tmp = filesystem(temp_key(uri))[1]
            staged.append((fs, tmp, path, uri))

            def put(fs: Any = fs, tmp: str = tmp, local: str = local) -> None:
                with open(local, "rb") as src, fs.open_output_stream(tmp) as out:
                    while block := src.read(8 << 20):
                        out.write(block)

            call(uri, put, "written")
        for fs, tmp, path, uri in staged:

            def copy(fs: Any = fs, tmp: str = tmp, path: str = path) -> None:
                fs.copy_file(tmp, path)

            call(uri, copy, "written")
    finally:
        for fs, tmp, _, _ in staged:
            with contextlib.suppress(OSError):
                if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                    fs.delete_file(tmp)


def upload_predictions(local_out: str, uri: str) -> str:
    """The predictions file written under MLOPS_HOME and its rejects file, uploaded onto `uri` and the rejects
    object beside it (tasks.predict.rejects_path locally, mlops.object_store.rejects_uri in the store); the
    rejects object's URI."""
    from pathlib import Path

    from mlops.object_store import rejects_uri

    local_rejects = Path(local_out).with_name(f"{Path(local_out).stem}.rejects.csv")
    upload((local_out, uri), (str(local_rejects), rejects_uri(uri)))
    return rejects_uri(uri)
