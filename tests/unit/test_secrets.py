"""No credential is ever shown: mask_secrets over the message shapes the libraries produce with a URL inside."""

from __future__ import annotations

import pytest

from mlops.text import mask_secrets, mask_url, without_credentials

PW = "S3cretPw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://u:{PW}@127.0.0.1:5432/mlflow", "postgresql://u:***@127.0.0.1:5432/mlflow"),
        (
            f"postgresql+psycopg2://mlflow:{PW}@db:5432/mlflow",
            "postgresql+psycopg2://mlflow:***@db:5432/mlflow",
        ),
        (f"mysql+pymysql://root:{PW}@db/mlflow", "mysql+pymysql://root:***@db/mlflow"),
        (f"http://u:{PW}@127.0.0.1:4200/api", "http://u:***@127.0.0.1:4200/api"),
        (f"https://:{PW}@mlflow.example", "https://:***@mlflow.example"),
        (f"postgresql://u:p@{PW}@db/x", "postgresql://u:***@db/x"),  # an unencoded '@' in the password
        (
            f"postgresql://u@db/x?password={PW}&sslmode=require",
            "postgresql://u@db/x?password=***&sslmode=require",
        ),
        (f"https://host/x?token={PW}", "https://host/x?token=***"),
        (
            f"https://acct.blob.core.windows.net/c?sv=2024&sig={PW}",
            "https://acct.blob.core.windows.net/c?sv=2024&sig=***",
        ),
        (
            f"s3://b/k?X-Amz-Signature={PW}&X-Amz-Credential={PW}",
            "s3://b/k?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
    ],
)
def test_mask_url_hides_the_password_whatever_the_scheme(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert PW not in mask_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4200/api",
        "postgresql://u@127.0.0.1:5432/mlflow",
        "sqlite:////tmp/x/mlflow.db",
        "http://127.0.0.1:4200/api/flow_runs/x@y",  # a port is not a password
        "file:///tmp/mlruns",
    ],
)
def test_urls_without_credentials_are_unchanged(url: str) -> None:
    assert mask_url(url) == url


@pytest.mark.parametrize(
    "message",
    [
        # SQLAlchemy's create_engine on a URL it cannot parse repeats the string
        f"Could not parse SQLAlchemy URL from given URL string 'postgresql://u:{PW}@127.0.0.1:abc/mlflow'",
        # MLflow's REST client repeats the whole request URL
        f"API request to http://u:{PW}@127.0.0.1:5999/api/2.0/mlflow/experiments/search failed with exception "
        "HTTPConnectionPool(host='127.0.0.1', port=5999): Max retries exceeded",
        # httpx's status errors
        f"Client error '404 Not Found' for url 'http://u:{PW}@127.0.0.1:4200/health'",
        # a libpq connection string (psycopg2 DSN)
        f"invalid dsn: host=127.0.0.1 port=5432 user=u password={PW} dbname=mlflow",
        f"dsn: host=127.0.0.1 password='{PW} with space' dbname=mlflow",
        # an environment dump, a header
        f"MLFLOW_TRACKING_PASSWORD={PW} PREFECT_API_KEY={PW}x PREFECT_API_AUTH_STRING=admin:{PW}",
        f"Authorization: Bearer {PW}0abcdefgh",
    ],
)
def test_mask_secrets_in_library_messages(message: str) -> None:
    masked = mask_secrets(message)
    assert PW not in masked
    assert "***" in masked


def test_known_secret_values_are_masked_wherever_they_appear() -> None:
    text = f"refused the auth string admin:{PW} (a:{PW}) and {PW}"
    assert mask_secrets(text, [f"admin:{PW}", PW]) == "refused the auth string *** (a:***) and ***"
    assert mask_secrets("ab and ab", ["ab"]) == "ab and ab"  # too short to be a secret: never blanks words


@pytest.mark.parametrize(
    "text",
    [
        "the MLflow basic-auth app answers 403; Basic authentication is off",
        "token counts: max_tokens=5, cache_key=abc (learning_rate=0.05)",
        "retry 2/3 will start in 10 s at http://127.0.0.1:4200/api",
    ],
)
def test_ordinary_words_are_not_masked(text: str) -> None:
    assert mask_secrets(text) == text


def test_links_lose_their_credentials() -> None:
    assert without_credentials(f"http://u:{PW}@mlflow.example:5000") == "http://mlflow.example:5000"
    assert without_credentials(f"https://mlflow.example/?token={PW}") == "https://mlflow.example/?token=***"
    assert without_credentials("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_secret_values_come_from_secret_names_and_url_passwords() -> None:
    from mlops.secrets import secret_values

    env = {
        "MLFLOW_TRACKING_PASSWORD": "pw-one",
        "PREFECT_API_AUTH_STRING": "admin:pw-two",
        "DATABASE_PASSWORD": "pw-three",
        "MLFLOW_TRACKING_URI": "postgresql://u:p%40ss-four@db/mlflow",
        "MLFLOW_TRACKING_USERNAME": "alice",  # a user name is not a secret
        "HOME": "/root",
    }
    found = secret_values(env)
    assert {"pw-one", "admin:pw-two", "pw-two", "pw-three", "p%40ss-four", "p@ss-four"} <= set(found)
    assert "alice" not in found and "/root" not in found


def test_hide_secrets_masks_what_the_environment_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.secrets import hide_secrets

    monkeypatch.setenv("PREFECT_API_AUTH_STRING", f"admin:{PW}")
    assert hide_secrets(f"Prefect refused {PW} (sent as admin:{PW})") == "Prefect refused *** (sent as ***)"


def test_the_cli_console_and_the_logs_mask_what_passes_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from mlops.cli.render import out
    from mlops.cli.runtime import mask_log_records

    url = f"postgresql://u:{PW}@127.0.0.1:5432/mlflow"
    out.print(f"store at {url}", markup=False)
    assert capsys.readouterr().out == "store at postgresql://u:***@127.0.0.1:5432/mlflow\n"
    previous = logging.getLogRecordFactory()
    try:
        mask_log_records()
        # the logger's own level too: an earlier test in this process may have quieted sqlalchemy's loggers
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            logging.getLogger("sqlalchemy.engine").info("connecting to %s", url)
    finally:
        logging.setLogRecordFactory(previous)
    assert PW not in caplog.text and "u:***@127.0.0.1" in caplog.text


def test_mlflow_tags_and_params_keep_no_credential() -> None:
    from tasks.tracking.store import param_text, shown_tags

    tags = shown_tags({"source": f"https://u:{PW}@data.example/x.csv", "rows": 5}, "mlops.")
    assert tags == {"mlops.source": "https://u:***@data.example/x.csv", "mlops.rows": 5}
    assert PW not in param_text({"url": f"postgresql://u:{PW}@db/x"})


def test_a_url_with_credentials_is_opened_without_them_in_the_host() -> None:
    """urllib reads `u:pw@host` as the host name: the check sends them as the clients do, in a Basic header."""
    from mlops.reach import credentials_apart

    bare, headers = credentials_apart(f"http://u:{PW}@127.0.0.1:4200/api")
    assert bare == "http://127.0.0.1:4200/api"
    assert headers == {"Authorization": "Basic dTpTM2NyZXRQdw=="}  # base64 of u:S3cretPw
    assert credentials_apart("http://127.0.0.1:4200/api") == ("http://127.0.0.1:4200/api", {})


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX",
        "https://discord.com/api/webhooks/123/XXXXsecretXXXX",
        "https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/XXXXsecretXXXX",
    ],
)
def test_a_webhook_url_is_its_own_secret(url: str) -> None:
    assert "XXXXsecretXXXX" not in mask_secrets(f"could not post to {url}: 404")


def test_a_logged_traceback_is_masked_too(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from mlops.cli.runtime import mask_log_records

    previous = logging.getLogRecordFactory()
    try:
        mask_log_records()
        with caplog.at_level(logging.ERROR):
            try:
                raise ConnectionError(f"API request to http://u:{PW}@127.0.0.1:1/api failed")
            except ConnectionError:
                logging.getLogger("mlflow.utils.rest_utils").exception("request failed")
    finally:
        logging.setLogRecordFactory(previous)
    assert "ConnectionError" in caplog.text and PW not in caplog.text


def test_an_error_is_masked_in_place_with_its_cause_and_its_type_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """hide_secrets_in: what Prefect's failed state, the CLI and the ledger read of an error is its masked text; the
    type stays (retry conditions and exit codes read it), the errors it carries are masked too."""
    import pickle

    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    from mlops.secrets import hide_secrets_in, secrets_hidden

    url = f"postgresql://u:{PW}@127.0.0.1:5432/x"
    monkeypatch.setenv("SOME_DB_URL", url)

    class Own(Exception):  # an error whose text is not its args
        def __str__(self) -> str:
            return f"cannot reach {url} (password {PW})"

    driver = ConnectionError(f"connection to {url} failed")
    wrapped = sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
    cases: list[BaseException] = [
        RuntimeError(f"could not connect to {url}"),
        OSError(2, f"no file {PW}", f"/tmp/{PW}"),
        MlflowException(f"API request to {url} failed"),
        wrapped,
        Own(),
    ]
    for error in cases:
        kind = type(error)
        hidden = hide_secrets_in(error)
        assert hidden is error and isinstance(error, kind) and type(error).__name__ == kind.__name__
        assert PW not in f"{type(error).__name__}: {error}" and PW not in repr(error.args), error
    assert PW not in str(driver) and PW not in str(wrapped.orig)
    assert PW not in str(
        pickle.loads(pickle.dumps(cases[-1]))
    )  # a masked error crosses a process boundary masked

    @secrets_hidden
    def fails() -> None:
        try:
            raise KeyError(url)
        except KeyError as exc:
            raise ValueError(f"read failed at {url}") from exc

    with pytest.raises(ValueError, match=r"u:\*\*\*@127") as caught:
        fails()
    assert isinstance(caught.value.__cause__, KeyError) and PW not in str(caught.value.__cause__)


def test_a_wrapped_flow_keeps_its_own_files_version() -> None:
    """secrets_hidden wraps each flow: Prefect would give all four the hash of mlops/secrets.py as their version
    (it hashes the file of the function it is given), so a changed flow would show an unchanged version."""
    import importlib

    from prefect.utilities.hashing import file_hash

    versions = set()
    for name in ("monitor", "predict", "replay", "retrain"):
        module = importlib.import_module(f"flows.{name}")
        flow = getattr(module, name)
        assert flow.version == file_hash(module.__file__), name
        versions.add(flow.version)
    assert len(versions) == 4
