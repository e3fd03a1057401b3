"""What the client layer needs, independent of the client library."""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes a record batch adds around its records (Kafka's v2 batch header).
RECORD_BATCH_OVERHEAD = 61
#: Bytes one record adds around its key and value at most (varints, attributes, deltas).
RECORD_OVERHEAD = 36


@dataclass
class KafkaOptions:
    brokers: list[str]
    client: str = "aiokafka"
    client_id: str = "cdcsink"
    required_acks: int = -1
    compression: str = "none"
    #: Hard cap on one record batch on the wire (the topic's/broker's max.message.bytes).
    max_message_bytes: int = 10 * 1024 * 1024
    max_retry: int = 5
    dial_timeout: float = 10.0
    read_timeout: float = 10.0
    write_timeout: float = 10.0

    @property
    def max_payload_bytes(self) -> int:
        """Key + value of one record such that a batch holding only it fits the cap."""
        return self.max_message_bytes - RECORD_BATCH_OVERHEAD - RECORD_OVERHEAD

    @property
    def batch_bytes(self) -> int:
        """Target size of one DML record batch: big enough to amortise a request,
        never above the cap (a batch of many records is checked as one message)."""
        return max(16 * 1024, min(self.max_message_bytes - RECORD_BATCH_OVERHEAD, 1024 * 1024))
