from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, TopicAuthorizationFailedError

from cdcsink.daemon import backoff_delay, is_restartable
from cdcsink.errors import ConfigError, DeliveryError, InvalidEventError, MessageTooLargeError


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
