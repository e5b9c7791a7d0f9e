"""Reaching a service a command depends on (the MLflow store's database or server, the Prefect API, a Dask
scheduler): one bounded retry policy for all of them, the words for what happened, and the one-paragraph message.

Each dependency is reached once, cheaply, before any work: a connect timeout per try, a few tries with short
pauses when nothing answers (a server restarting is given seconds, not minutes), none when the service answered
and refused the credentials or the setting (waiting does not make a wrong password right). The user then reads,
in one paragraph, the variable, its address (never its password), what happened, how many tries over how long,
and the fix; exit 1 for a service down, 2 for credentials or a setting to correct.

The policy numbers live here only (docs/scale-out.md quotes them); the connect timeout is a setting
(MLOPS_CONNECT_TIMEOUT_SECONDS, mlops/settings.py) for a slow network, and the pauses between tries follow it. `reach`
takes the attempt and the clock, so it is unit-tested without a network."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mlops.errors import MlopsError
from mlops.text import mask_url

# --- the policy: the only place these numbers are written ------------------------------------------------------

# per try: to connect, and to get the first answer once connected. The default of MLOPS_CONNECT_TIMEOUT_SECONDS;
# at least 2 s, the least libpq (PostgreSQL's client) honours
CONNECT_TIMEOUT_SECONDS = 5.0
LEAST_CONNECT_TIMEOUT_SECONDS = 2.0
TRIES = 3
# between tries, as shares of the connect timeout: by default 2 s then 3 s, so a refused port is told after 3 tries
# over ~5 s, a silent one after ~20 s
PAUSE_SHARES = (0.4, 0.6)


def pauses_for(timeout: float) -> tuple[float, ...]:
    """The pauses between tries for this connect timeout (a longer timeout, a more patient wait)."""
    return tuple(round(share * timeout, 3) for share in PAUSE_SHARES)


PAUSES_SECONDS = pauses_for(CONNECT_TIMEOUT_SECONDS)


def connect_timeout() -> float:
    """The connect timeout of this process's environment (MLOPS_CONNECT_TIMEOUT_SECONDS, default 5 s)."""
    from mlops.settings import Settings  # mlops.settings takes its default from here

    return Settings.from_environment().connect_timeout_seconds


# after the first reach, mid-run: a PostgreSQL connection we open (model.search's trial store, --out table:) gives up
# connecting after the same timeout, and a peer gone silent is found by TCP keepalives after about 5 + 3 x 2 s,
# not after the operating system's minutes
KEEPALIVE_SECONDS = (5, 2, 3)  # idle before the first probe, between probes, probes lost before giving up


def pg_connect_args(url: str) -> dict[str, int]:
    """libpq's options for a connection SQLAlchemy opens through psycopg2 (`postgresql://`,
    `postgresql+psycopg2://`): the connect timeout of this policy and TCP keepalives; {} for any other URL."""
    scheme = url.partition("://")[0].lower()
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        return {}
    idle, interval, count = KEEPALIVE_SECONDS
    return {
        "connect_timeout": math.ceil(connect_timeout()),
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": count,
    }


Kind = Literal["refused", "silent", "denied", "setting", "down"]
RETRIED: frozenset[str] = frozenset({"refused", "silent", "down"})  # may pass by waiting; the others do not


@dataclass(frozen=True)
class Unreached:
    """How reaching a service failed: the kind of the last failure, its detail, the tries and their span, and the
    connect timeout each try had."""

    kind: Kind
    detail: str
    tries: int
    seconds: float
    timeout: float = CONNECT_TIMEOUT_SECONDS

    @property
    def exit_code(self) -> int:
        return 2 if self.kind in ("denied", "setting") else 1


def reach(
    attempt: Callable[[float], None],
    classify: Callable[[BaseException], tuple[Kind, str]],
    *,
    tries: int = TRIES,
    timeout: float | None = None,
    pauses: tuple[float, ...] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Unreached | None:
    """Call `attempt(timeout)` until it returns (None) or fails `tries` times; a failure `classify` does not call
    retryable (credentials, a setting) ends it at once. The Unreached says what happened last. The timeout is the
    setting's unless given, the pauses follow the timeout unless given."""
    if timeout is None:
        timeout = connect_timeout()
    if pauses is None:
        pauses = pauses_for(timeout)
    started = clock()
    for n in range(1, tries + 1):
        try:
            attempt(timeout)
            return None
        except Exception as exc:  # noqa: BLE001 - every failure is classified: the classifier decides
            kind, detail = classify(exc)
            if kind not in RETRIED or n == tries:
                return Unreached(kind, detail, n, clock() - started, timeout)
        sleep(pauses[min(n - 1, len(pauses) - 1)] if pauses else 0.0)
    raise AssertionError("unreachable: the loop returns on its last try")  # pragma: no cover


def happened(unreached: Unreached) -> str:
    """What the service did, in words: 'refused the connection', 'accepted the connection but did not answer...'."""
    detail = f" ({unreached.detail})" if unreached.detail else ""
    return {
        "refused": "refused the connection (nothing listens at that port, or a firewall rejects it)",
        "silent": f"accepted the connection but did not answer within {unreached.timeout:g} s",
        "denied": f"refused the credentials{detail}",
        "setting": f"cannot be used as set{detail}",
        "down": f"could not be reached{detail}",
    }[unreached.kind]


def tried(unreached: Unreached) -> str:
    if unreached.kind not in RETRIED:
        return "not retried: waiting does not change the answer"
    if unreached.tries == 1:
        return f"tried once over {unreached.seconds:.0f} s"
    return f"tried {unreached.tries} times over {unreached.seconds:.0f} s"


def masked(url: str) -> str:
    """The URL as a message shows it: its password and secret query parameters masked (mlops.text.mask_url, the
    project's one mask)."""
    return mask_url(url)


class ServiceDown(MlopsError):
    """A service the command depends on did not answer within the retry policy: nothing was run."""

    exit_code = 1


class ServiceRefused(MlopsError):
    """A service answered and refused the credentials or the setting: fix the configuration, exit 2."""

    exit_code = 2


def unreached_error(
    what: str, variable: str, address: str, unreached: Unreached, fix: str, fix_credentials: str = ""
) -> MlopsError:
    """One paragraph: '<what> at <VARIABLE>=<masked address> <happened> (<tried>); <fix>. Nothing was run.'"""
    chosen = fix_credentials if unreached.kind in ("denied", "setting") and fix_credentials else fix
    message = (
        f"the {what} at {variable}={masked(address)} {happened(unreached)} ({tried(unreached)}); "
        f"{chosen.rstrip('. ')}. Nothing was run."
    )
    error_class = ServiceRefused if unreached.exit_code == 2 else ServiceDown
    return error_class(message)


def socket_failure(exc: BaseException) -> tuple[Kind, str] | None:
    """The kind of a socket-level failure (refused, timed out, no route, a name that does not resolve), or None."""
    import socket

    reason = getattr(exc, "reason", None)  # urllib's URLError wraps the socket error
    if isinstance(reason, BaseException):
        exc = reason
    if isinstance(exc, ConnectionRefusedError):
        return "refused", ""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "silent", ""
    if isinstance(exc, socket.gaierror):
        return "setting", f"the host name does not resolve: {exc.strerror or exc}"
    if isinstance(exc, ConnectionError):  # reset, aborted: the service is going up or down
        return "down", f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return "down", exc.strerror or str(exc) or type(exc).__name__
    return None


def http_attempt(url: str, headers: dict[str, str] | None = None) -> Callable[[float], None]:
    """One try at an HTTP service: any HTTP answer (even 401 or 404) means it is there and answering; who may do
    what is checked by the caller's own client. So does a TLS handshake this check cannot verify: the library's
    own client may trust that certificate (REQUESTS_CA_BUNDLE, MLFLOW_TRACKING_INSECURE_TLS, ...)."""
    import ssl
    import urllib.error
    import urllib.request

    bare, auth = credentials_apart(url)

    def attempt(timeout: float) -> None:
        request = urllib.request.Request(bare, headers=auth | (headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                return
        except urllib.error.HTTPError:
            return
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                return
            raise

    return attempt


def credentials_apart(url: str) -> tuple[str, dict[str, str]]:
    """`http://user:password@host/x` as urllib can open it: the URL without its user part (urllib would read it
    as the host name), and the Basic Authorization header the clients (requests, httpx) would send for it."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url, {}
    if "@" not in parts.netloc:
        return url, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {token}"}


def http_failure(exc: BaseException) -> tuple[Kind, str]:
    found = socket_failure(exc)
    if found is not None:
        return found
    return "setting", f"{type(exc).__name__}: {exc}"  # e.g. ValueError: a URL urllib cannot use
