import ssl

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    NodeNotReadyError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)

from cdcsink.daemon import backoff_delay, is_restartable, named_refusal
from cdcsink.errors import AuthenticationError, ConfigError, DeliveryError, InvalidEventError, MessageTooLargeError


def test_retriable_failures_restart_and_fatal_ones_do_not():
    assert is_restartable(DeliveryError("x", NodeNotReadyError()))
    assert is_restartable(KafkaConnectionError("bootstrap"))
    assert is_restartable(DeliveryError("x", TimeoutError()))
    assert not is_restartable(DeliveryError("x", TopicAuthorizationFailedError()))
    assert not is_restartable(ConfigError("bad"))
    assert not is_restartable(InvalidEventError("f:1", "bad"))
    assert not is_restartable(MessageTooLargeError("big"))


def test_backoff_grows_is_capped_and_jittered():
    low = [backoff_delay(a, 1.0, 60.0, rand=lambda: 0.0) for a in range(10)]
    high = [backoff_delay(a, 1.0, 60.0, rand=lambda: 1.0) for a in range(10)]
    assert low[:4] == [0.5, 1.0, 2.0, 4.0] and high[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(high) == 60.0 and low[-1] == 30.0


def ssl_error(cls: type[ssl.SSLError], reason: str, verify_message: str | None = None) -> ssl.SSLError:
    error = cls(1, f"[SSL: {reason}] ({reason.lower()})")
    error.reason = reason
    if verify_message is not None:
        error.verify_message = verify_message
    return error


def wrapped(cause: BaseException) -> KafkaConnectionError:
    """As aiokafka reports a connection that failed under a request."""
    error = KafkaConnectionError("Connection at 10.0.0.1:9093 closed")
    error.__cause__ = cause
    return error


def test_tls_and_sasl_refusals_are_fatal_even_when_wrapped_in_a_retriable_error():
    refusals = [
        ssl_error(ssl.SSLCertVerificationError, "CERTIFICATE_VERIFY_FAILED", "unable to get local issuer certificate"),
        ssl_error(ssl.SSLError, "TLSV13_ALERT_CERTIFICATE_REQUIRED"),
        ssl_error(ssl.SSLError, "TLSV1_ALERT_UNKNOWN_CA"),
        SaslAuthenticationFailed("Authentication failed for alice"),
        UnsupportedSaslMechanismError("SCRAM-SHA-512"),
    ]
    assert not is_restartable(AuthenticationError("kafka h:1: SASL PLAIN authentication failed"))
    for refusal in refusals:
        assert not is_restartable(refusal), refusal
        assert not is_restartable(wrapped(refusal)), refusal
        assert not is_restartable(DeliveryError("batch failed", wrapped(refusal))), refusal


def test_a_connection_that_merely_went_away_stays_retriable():
    for cause in (ssl_error(ssl.SSLEOFError, "UNEXPECTED_EOF_WHILE_READING"), ssl_error(ssl.SSLError, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"), ConnectionResetError()):
        assert is_restartable(wrapped(cause)), cause
        assert is_restartable(DeliveryError("batch failed", wrapped(cause))), cause


def test_a_wrapped_refusal_is_reported_as_one_line_naming_it():
    cert = ssl_error(ssl.SSLCertVerificationError, "CERTIFICATE_VERIFY_FAILED", "self-signed certificate")
    assert str(named_refusal(wrapped(cert))) == (
        "kafka: TLS certificate verification failed: self-signed certificate (KafkaConnectionError: Connection at 10.0.0.1:9093 closed)"
    )
    delivery = DeliveryError("DDL to topic t failed (KafkaConnectionError: closed)", wrapped(SaslAuthenticationFailed("bad password")))
    assert str(named_refusal(delivery)) == (
        "kafka: SASL authentication failed: [Error 58] SaslAuthenticationFailed: bad password"
        " (DDL to topic t failed (KafkaConnectionError: closed))"
    )
    assert named_refusal(KafkaConnectionError("bootstrap")) is None
    assert named_refusal(AuthenticationError("already one line")) is None


async def test_a_run_that_made_progress_resets_the_count_of_restarts_without_progress(monkeypatch, tmp_path):
    """restart.max-attempts counts restarts in a row without a checkpoint write: a run
    that wrote one starts the count again."""
    from types import SimpleNamespace

    import cdcsink.daemon as daemon_module
    from cdcsink.config import Settings

    script = ["fail", "fail", "progress, then fail", "fail", "fail", "done"]
    runs: list[str] = []

    class Pipeline:
        def __init__(self, settings, source=None, metrics=None, readiness=None) -> None:
            self.checkpointer = None

        def request_stop(self) -> None: ...

        async def run(self):
            step = script[len(runs)]
            runs.append(step)
            if step == "done":
                return "result"
            if step.startswith("progress"):
                self.checkpointer = SimpleNamespace(writes=1)
            raise DeliveryError("broker gone", NodeNotReadyError())

    monkeypatch.setattr(daemon_module, "Pipeline", Pipeline)
    settings = Settings(
        source={"type": "file", "path": "/in.ndjson"},
        sink={"uri": "kafka://k:9092/t?protocol=canal-json"},
        restart={"max-attempts": 2, "backoff-min": "1ms", "backoff-max": "2ms"},
        http={"enabled": False},
        checkpoint={"store": str(tmp_path / "cp.json")},
    )
    # Two failures, progress, two more: never three in a row without progress.
    assert await daemon_module.Daemon(settings).run() == "result"
    assert runs == script

    runs.clear()
    script[2] = "fail"  # now three in a row without progress: the third restart is refused
    with pytest.raises(DeliveryError, match="giving up after 2 restarts without progress"):
        await daemon_module.Daemon(settings).run()
    assert len(runs) == 3
