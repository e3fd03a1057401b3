"""Why no broker of a cluster answers at bootstrap, in one line, for any client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Sequence

from cdcsink.errors import KafkaUnreachableError


async def _connect_problem(broker: str, timeout: float) -> str:
    """Why a plain TCP connection to ``broker`` fails, in words (or what it shows when it succeeds)."""
    host, _, port = broker.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout)
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror as error:
        return f"host name not resolved ({error.strerror})"
    except (asyncio.TimeoutError, TimeoutError):
        return f"no answer within {timeout:g}s"
    except OSError as error:
        return (error.strerror or str(error)).lower()
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return "connected, but no Kafka answer (not a Kafka listener, or it needs TLS or SASL?)"


async def unreachable(brokers: Sequence[str], where: str = "kafka", timeout: float = 3.0) -> KafkaUnreachableError:
    """One line saying why none of ``brokers`` could be reached at bootstrap, e.g.
    ``kafka 127.0.0.1:9092: cannot connect (bootstrap): connection refused``."""
    problems = await asyncio.gather(*(_connect_problem(broker, timeout) for broker in brokers))
    if len(set(problems)) == 1:
        reason = problems[0]
    else:
        reason = "; ".join(f"{broker}: {problem}" for broker, problem in zip(brokers, problems))
    return KafkaUnreachableError(f"{where} {','.join(brokers)}: cannot connect (bootstrap): {reason}")
