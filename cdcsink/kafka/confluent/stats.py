"""librdkafka's statistics (the JSON its ``stats_cb`` gets every
``statistics.interval.ms``) reduced to what cdcsink exports as metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson

#: The RTT percentiles exported, as (Prometheus quantile label, librdkafka key).
RTT_QUANTILES = (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"))


@dataclass(frozen=True)
class BrokerStatistics:
    #: RTT percentiles over the last statistics window, seconds (empty: no request in it).
    rtt: dict[str, float]
    #: Requests waiting to be sent to the broker.
    outbuf_requests: int
    #: Requests sent and waiting for the broker's response.
    waitresp_requests: int
    #: Requests sent again (retries), since the producer started.
    retries: int


@dataclass(frozen=True)
class Statistics:
    #: By broker address (host:port); only the cluster's brokers, not the bootstrap entries.
    brokers: dict[str, BrokerStatistics] = field(default_factory=dict)
    #: Messages in the producer's queues (waiting or in flight).
    queue_messages: int = 0
    #: When the statistics were taken (seconds since the epoch).
    taken_at: float = 0.0

    @property
    def retries(self) -> int:
        return sum(b.retries for b in self.brokers.values())


def parse_statistics(text: str | bytes) -> Statistics:
    data = orjson.loads(text)
    brokers: dict[str, BrokerStatistics] = {}
    for broker in (data.get("brokers") or {}).values():
        if broker.get("nodeid", -1) < 0:  # a bootstrap address, not a broker of the cluster
            continue
        window = broker.get("rtt") or {}
        rtt = {q: window.get(k, 0) / 1e6 for q, k in RTT_QUANTILES} if window.get("cnt") else {}
        brokers[broker.get("nodename") or broker["name"]] = BrokerStatistics(
            rtt=rtt,
            outbuf_requests=int(broker.get("outbuf_cnt", 0)),
            waitresp_requests=int(broker.get("waitresp_cnt", 0)),
            retries=int(broker.get("txretries", 0)),
        )
    taken = data.get("time")
    return Statistics(brokers=brokers, queue_messages=int(data.get("msg_cnt", 0)), taken_at=float(taken) if taken else time.time())
