"""The daemon: runs the pipeline under a supervisor, serves the HTTP endpoints,
and turns signals into a bounded, checkpointed shutdown.

Supervisor: a retriable failure (broker down, leader moved, timeout) closes
the run's clients and starts a new run from the stored checkpoint after an
exponential backoff with jitter. A fatal failure (invalid config, invalid
input, message too large, authentication or authorization) ends the daemon
at once with a one-line reason: restarting would fail the same way.
"""

from __future__ import annotations

import asyncio
import gc
import random
import signal
from typing import Callable

import structlog

from cdcsink.checkpoint.lock import CheckpointLock
from cdcsink.checkpoint.store import store_path
from cdcsink.config import Settings
from cdcsink.errors import (
    AuthenticationError,
    CdcsinkError,
    ConfigError,
    DeliveryError,
    InvalidEventError,
    MessageTooLargeError,
)
from cdcsink.http import HttpServer, Readiness
from cdcsink.kafka.errors import is_retriable, security_refusal
from cdcsink.metrics import Metrics
from cdcsink.pipeline import Pipeline, RunResult
from cdcsink.progress import Progress
from cdcsink.source.stdin import StdinSource

log = structlog.get_logger("cdcsink.daemon")


class ShutdownTimeout(CdcsinkError):
    """In-flight messages were not drained within shutdown-timeout."""


class UndeliveredInput(CdcsinkError):
    """The process stops with lines of a pipe read but not delivered."""


def checkpoint_lock(settings: Settings) -> CheckpointLock | None:
    """The lock of the checkpoint file this daemon writes (a kafka source has none:
    its instances share the consumer group's offsets by design)."""
    if settings.source.type == "kafka":
        return None
    return CheckpointLock(store_path(settings.checkpoint.store, settings.changefeed), settings.changefeed)


def pipe_report(pipe: StdinSource) -> str | None:
    """How many lines of the pipe were read but are not covered by the stored checkpoint."""
    read, stored = pipe.lines_read(), pipe.lines_stored()
    if read <= stored:
        return None
    which = f"line {read}" if read == stored + 1 else f"lines {stored + 1}-{read}"
    lines = "1 line read was" if read == stored + 1 else f"{read - stored} lines read were"
    if stored == 0:
        done = "no line of it is delivered"
    elif stored == 1:
        done = "the first line is delivered and checkpointed"
    else:
        done = f"the first {stored} are delivered and checkpointed"
    return f"stdin: {lines} not delivered ({which} of the pipe; {done})"


def is_restartable(error: BaseException) -> bool:
    """Whether a new run from the checkpoint may succeed where this one failed."""
    if isinstance(error, (ConfigError, InvalidEventError, MessageTooLargeError, AuthenticationError)):
        return False
    if isinstance(error, DeliveryError):
        return error.cause is None or is_retriable(error.cause)
    return is_retriable(error)


def named_refusal(error: BaseException) -> AuthenticationError | None:
    """A TLS or SASL refusal the client wrapped in another error, as one line
    that says so (the wrapper's own message only says the connection closed)."""
    if isinstance(error, AuthenticationError):
        return None
    refusal = security_refusal(error.cause if isinstance(error, DeliveryError) and error.cause else error)
    return AuthenticationError(f"kafka: {refusal} ({error})") if refusal else None


def backoff_delay(attempt: int, low: float, high: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter in [base/2, base], base = low * 2**attempt capped at high."""
    base = min(high, low * (2 ** min(attempt, 32)))
    return base / 2 + rand() * base / 2


#: Allocations between young-generation collections. The hot path allocates
#: many short-lived, acyclic objects (events, dicts, encoded messages); the
#: default (700) spends a large share of the time in the collector.
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Freeze start-up objects out of the collector's scans and collect the young
    generation less often (measured: about a quarter more events per second)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics(settings.changefeed)
        self.readiness = Readiness()
        self.http: HttpServer | None = None
        self.pipeline: Pipeline | None = None
        #: Standard input, kept across runs so a restarted run replays what was read and not acknowledged.
        self.pipe = StdinSource(max_line_bytes=settings.source.max_line_bytes) if settings.source.type == "stdin" else None
        self.lock = checkpoint_lock(settings)
        self.stopping = asyncio.Event()
        self.signals = 0

    def on_signal(self, signum: int) -> None:
        self.signals += 1
        if self.signals > 1:
            log.critical("second signal, exiting at once without draining", signal=signal.Signals(signum).name, exit_code=130)
            import os

            os._exit(130)
        log.info("stopping: draining in-flight messages", signal=signal.Signals(signum).name)
        self.stopping.set()
        if self.pipeline is not None:
            self.pipeline.request_stop()

    async def run(self) -> RunResult | None:
        """Run until the input ends or a stop; the checkpoint's lock is held throughout,
        across restarts, so a second daemon on the same checkpoint is refused."""
        settings = self.settings
        tune_gc()
        if self.lock is not None:
            self.lock.acquire()
        try:
            if settings.http.enabled:
                self.http = HttpServer(self.metrics, self.readiness, settings.http.host, settings.http.port)
                await self.http.start()
            try:
                result = await self._supervise()
            except Exception as error:
                report = pipe_report(self.pipe) if self.pipe is not None else None
                if report is not None:
                    error.args = (f"{error}; {report}",)  # same error class, so the same exit code
                raise
            report = pipe_report(self.pipe) if self.pipe is not None else None
            if report is not None:
                raise UndeliveredInput(f"stopped before the input was delivered: {report}")
            return result
        finally:
            if self.http is not None:
                await self.http.close()
            if self.lock is not None:
                self.lock.release()

    async def _supervise(self) -> RunResult | None:
        restart = self.settings.restart
        attempt = 0
        while True:
            pipeline = self.pipeline = Pipeline(self.settings, source=self.pipe, metrics=self.metrics, readiness=self.readiness)
            if self.stopping.is_set():
                return None
            progress = Progress.start_if_terminal(pipeline, self.settings)
            try:
                return await self._run_once(pipeline)
            except Exception as error:
                if not is_restartable(error) or self.stopping.is_set():
                    raise named_refusal(error) or error
                cause = error
            finally:
                if progress is not None:
                    progress.stop()
            made_progress = pipeline.checkpointer is not None and pipeline.checkpointer.writes > 0
            attempt = 0 if made_progress else attempt + 1
            if restart.max_attempts and attempt > restart.max_attempts:
                raise DeliveryError(f"giving up after {restart.max_attempts} restarts without progress: {cause}")
            delay = backoff_delay(attempt, restart.backoff_min, restart.backoff_max)
            self.metrics.restarts.inc()
            self.readiness.set(False, f"restarting in {delay:.1f}s after: {cause}")
            log.warning(
                "pipeline failed; restarting from the checkpoint",
                cause=str(cause) if isinstance(cause, CdcsinkError) else f"{type(cause).__name__}: {cause}",
                attempt=attempt,
                delay_s=round(delay, 2),
            )
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
                return None
            except asyncio.TimeoutError:
                pass

    async def _run_once(self, pipeline: Pipeline) -> RunResult:
        run = asyncio.create_task(pipeline.run())
        stop = asyncio.create_task(self.stopping.wait())
        try:
            done, _ = await asyncio.wait({run, stop}, return_when=asyncio.FIRST_COMPLETED)
            if run in done:
                return run.result()
            pipeline.request_stop()
            try:
                return await asyncio.wait_for(asyncio.shield(run), self.settings.shutdown_timeout)
            except asyncio.TimeoutError:
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
                raise ShutdownTimeout(
                    f"in-flight messages not drained within shutdown-timeout ({self.settings.shutdown_timeout:g}s); "
                    "the checkpoint stays at the last acknowledged resolved ts"
                ) from None
        finally:
            stop.cancel()
