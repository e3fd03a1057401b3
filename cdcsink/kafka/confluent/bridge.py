"""librdkafka's callbacks handed over to the event loop.

librdkafka runs delivery reports, errors and statistics in whatever thread
calls ``poll()``. Each handle gets a thread of its own that does nothing but
block in ``poll()`` (the GIL is released while it waits, so it costs nothing
when idle and is woken at once by an event, never a busy poll). The
callbacks it runs only append ``(function, argument)`` pairs to a list; after
each ``poll()`` that produced any, the whole list is handed to the event loop
with one ``call_soon_threadsafe``, where the functions run. So the event loop
is woken once per poll round, not once per batch, and nothing of the
client's state is touched outside the loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

import structlog
from confluent_kafka import KafkaException

log = structlog.get_logger("cdcsink.kafka.confluent")

#: Longest a poll blocks (an event ends it at once): bounds how long stopping
#: the thread takes; an idle thread wakes 20 times a second for a C call.
POLL_TIMEOUT = 0.05


class PollThread:
    def __init__(
        self, handle: Any, name: str, loop: asyncio.AbstractEventLoop, on_error: Callable[[Any], None] | None = None
    ) -> None:
        self.handle = handle
        self._on_error = on_error
        self._loop = loop
        self._pending: list[tuple[Callable[[Any], None], Any]] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: The thread's OS id once it runs (the benchmark splits CPU time by thread).
        self.native_id: int | None = None

    def start(self) -> "PollThread":
        self._thread.start()
        return self

    def call_in_loop(self, function: Callable[[Any], None], argument: Any) -> None:
        """From a callback in this thread: run ``function(argument)`` in the event loop."""
        self._pending.append((function, argument))

    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        poll = self.handle.poll
        while not self._stopping:
            try:
                poll(POLL_TIMEOUT)
            except KafkaException as error:  # a fatal error confluent-kafka raises instead of reporting
                if self._on_error is not None:
                    self._on_error(error.args[0])
            except Exception:  # a callback failed: keep serving the others
                log.exception("librdkafka callback failed", thread=self._thread.name)
            if self._pending:
                items, self._pending = self._pending, []
                try:
                    self._loop.call_soon_threadsafe(_run_all, items)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    return

    async def stop(self) -> None:
        """Stop polling and wait for the thread (at most one poll timeout)."""
        self._stopping = True
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)
        if self._pending:  # handed over by the last poll round
            items, self._pending = self._pending, []
            _run_all(items)


def _run_all(items: list[tuple[Callable[[Any], None], Any]]) -> None:
    for function, argument in items:
        function(argument)
