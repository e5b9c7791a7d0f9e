"""Object storage paths (`s3://bucket/key`, `gs://...`, `abfs://...`), the pure part: which text is such a path,
its parts, where an output is written before it is moved into place, and what a failed request means in words
(the standard library only; tasks/objects.py reaches the store through pyarrow.fs).

A failure is sorted by the store's own error text (pyarrow passes the AWS SDK's error name through): a key or a
bucket that is not there, credentials missing or refused, an endpoint that does not answer (retried with the
bounded policy of mlops.reach), anything else."""

from __future__ import annotations

import os
from typing import Literal

SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss")

Failure = Literal["missing", "no-credentials", "denied", "unreachable", "other"]

# the AWS SDK's words (pyarrow keeps them in its OSError text), by what they mean to the user
_UNREACHABLE = (
    "network_connection",
    "couldn't connect",
    "could not connect",
    "connection refused",
    "failed to connect",
    "timeout was reached",
    "timed out",
    "couldn't resolve host",
    "could not resolve host",
    "connection reset",
    "service_unavailable",
    "slow_down",
    "internal_failure",
)
_NO_CREDENTIALS = ("no credentials", "unable to locate credentials", "missing_authentication_token")
_DENIED = (
    "access_denied",
    "accessdenied",
    "invalid_access_key_id",
    "invalidaccesskeyid",
    "signature_does_not_match",
    "signaturedoesnotmatch",
    "unrecognized_client",
    "invalidtoken",
    "expired_token",
    "http status 403",
    "http status 401",
)
_MISSING = (
    "no_such_bucket",
    "nosuchbucket",
    "no_such_key",
    "nosuchkey",
    "http status 404",
    "path does not exist",
)


def is_object_uri(path: object) -> bool:
    """True for `s3://...`, `gs://...`, `gcs://...`, `abfs://...`, `abfss://...` (case-insensitive scheme)."""
    if not isinstance(path, str) or "://" not in path:
        return False
    return path.partition("://")[0].lower() in SCHEMES


def parts(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket, key) of an object URI: `s3://b/a/x.csv` -> ('s3', 'b', 'a/x.csv')."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    return scheme.lower(), bucket, key


def temp_key(uri: str, pid: int | None = None) -> str:
    """Where an output is uploaded before it is copied onto `uri`: a hidden sibling key (`.NAME.PID.tmp`), so a
    reader of `uri` sees the old object or the whole new one, never a part."""
    head, _, name = uri.rpartition("/")
    return f"{head}/.{name}.{os.getpid() if pid is None else pid}.tmp"


def rejects_uri(uri: str) -> str:
    """The rejects file beside `uri` (`s3://b/p/preds.parquet` -> `s3://b/p/preds.rejects.csv`)."""
    head, _, name = uri.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{head}/{stem}.rejects.csv"


def classify(message: str) -> Failure:
    """What the store's error text says happened."""
    text = message.lower()
    if any(w in text for w in _NO_CREDENTIALS):
        return "no-credentials"
    if any(w in text for w in _DENIED):
        return "denied"
    if any(w in text for w in _MISSING):
        return "missing"
    if any(w in text for w in _UNREACHABLE):
        return "unreachable"
    return "other"


def fix_for(failure: Failure, uri: str) -> str:
    """The sentence a message ends with, for each kind of failure."""
    scheme = parts(uri)[0]
    creds = (
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where a container, instance or web "
        "identity role gives them (and AWS_REGION, AWS_ENDPOINT_URL for MinIO, R2 or another S3-compatible store)"
        if scheme == "s3"
        else "set the store's credentials in the environment its client reads (docs/sources.md)"
    )
    return {
        "missing": "check the bucket and the key (a folder is a prefix ending in '/'), or upload the object first",
        "no-credentials": f"no credentials were found; {creds}",
        "denied": f"the store refused the credentials or the access; {creds} to a key allowed to read (and, for "
        "--out, to write) that bucket",
        "unreachable": "check AWS_ENDPOINT_URL (the store's address) and the network, then rerun"
        if scheme == "s3"
        else "check the network, then rerun",
        "other": "check the path and the store's settings (docs/sources.md)",
    }[failure]
