"""``cdcsink run``, ``check``, ``consume``, ``config show``, ``checkpoint show|reset`` and ``cdcsink --version``.

Exit codes: 0 done (input fully delivered and checkpointed, or stopped by a
signal after draining); 1 delivery failure that restarting cannot fix,
shutdown-timeout exceeded, or lines read from stdin left undelivered; 2
invalid configuration (including a checkpoint another feed wrote, or one a
running daemon holds, and an HTTP port in use); 3 invalid input event; 130 a
second signal forced an immediate exit.

The stop signals are caught first thing, before the slow imports and the
config: a SIGTERM that arrives while the daemon starts is noted and acted on
(a clean stop, exit 0) as soon as the daemon runs. So this module imports
nothing heavy at its top.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
from typing import TYPE_CHECKING, Any, Sequence

from cdcsink import __version__

if TYPE_CHECKING:
    from cdcsink.config import Settings

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_INVALID_INPUT, EXIT_FORCED = 0, 1, 2, 3, 130

#: Each stops the daemon the same way: stop reading, drain, checkpoint, exit 0. SIGHUP
#: too (a closed terminal or session, or a service manager's reload): there is no reload.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

#: Stop signals received before the event loop took them over.
_early_signals: list[int] = []


def version_line() -> str:
    """``cdcsink 1.2.0 (Python 3.11.7, compiled)``: the version, the Python and
    whether the compiled hot path runs (see :mod:`cdcsink.speedups`)."""
    from cdcsink import speedups

    return f"cdcsink {__version__} (Python {platform.python_version()}, {speedups.describe()})"


def _note_early_signal(signum: int, frame: Any) -> None:
    _early_signals.append(signum)
    if len(_early_signals) > 1:
        print("cdcsink: second signal, exiting at once", file=sys.stderr)
        os._exit(EXIT_FORCED)


def _catch_stop_signals_early() -> dict[int, Any]:
    """Note stop signals from now on; returns the handlers that were in place."""
    return {signum: signal.signal(signum, _note_early_signal) for signum in STOP_SIGNALS}


def _release_stop_signals() -> None:
    """Back to the default handling (commands that are not the daemon), honouring a signal already received."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
    if _early_signals:
        signal.raise_signal(_early_signals[0])


def _event_loop_policy() -> None:
    import asyncio

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _fail(code: int, message: str, log_format: str) -> int:
    """The last lines: why the process exits, one line per problem (a config error
    lists them all), in the log format (in json, a JSON log line with ``exit_code``
    each; on a terminal, ``cdcsink: reason``)."""
    lines = message.splitlines() or [""]
    if log_format == "json":
        import structlog

        from cdcsink.logs import configure_logging, is_configured

        if not is_configured():  # the settings could not be loaded
            configure_logging("json", changefeed=os.environ.get("CDCSINK_CHANGEFEED"))
        for line in lines:
            structlog.get_logger("cdcsink").critical(line, exit_code=code)
    else:
        for line in lines:
            print(f"cdcsink: {line}", file=sys.stderr, flush=True)
    return code


def _log_format_without_settings(config: str | None) -> str:
    """log.format when the settings could not be loaded: the env var's, else the
    config file's if it reads as YAML, else console."""
    value = os.environ.get("CDCSINK_LOG__FORMAT")
    if value is None:
        try:
            import yaml

            with open(config or os.environ.get("CDCSINK_CONFIG") or "", encoding="utf-8") as f:
                value = ((yaml.safe_load(f) or {}).get("log") or {}).get("format")
        except Exception:
            value = None
    return "json" if isinstance(value, str) and value.strip().lower() == "json" else "console"


async def _run(settings: Settings) -> int:
    import asyncio

    import structlog

    from cdcsink.daemon import Daemon
    from cdcsink.preflight import preflight

    try:
        preflight(settings)  # the input and output files, before anything connects or creates a topic
        daemon = Daemon(settings)
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, daemon.on_signal, signum)
        # Received while starting: noted before the event loop ran, or held back since
        # (see _main) and taken here; either way the daemon stops before reading anything.
        while (held := signal.sigtimedwait(STOP_SIGNALS, 0)) is not None:
            _early_signals.append(held.si_signo)
        for signum in _early_signals:
            daemon.on_signal(signum)
        _early_signals.clear()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    result = await daemon.run()
    if result is not None:
        structlog.get_logger("cdcsink").info(
            "done",
            checkpoint_ts=result.checkpoint_ts,
            rows=result.rows,
            ddls=result.ddls,
            messages=sum(result.messages.values()),
        )
    return EXIT_OK


async def _check(settings: Settings) -> int:
    import logging

    from cdcsink.check import check

    if settings.log.level != "debug":
        # check reports why a broker cannot be reached in its own one line.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    for line in await check(settings):
        print(line)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    previous = _catch_stop_signals_early()
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C in a command that is not the daemon: interrupted, no traceback
        return EXIT_FORCED
    except BrokenPipeError:  # the reader of stdout went away (`cdcsink config show | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return EXIT_FAILURE
    finally:  # for a caller in the same process (the command itself exits next)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _early_signals.clear()


def _main(argv: Sequence[str] | None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="cdcsink", description="CDC change events in, ordered Kafka messages out.")
    class PrintVersion(argparse.Action):  # argparse's "version" action would wrap the line
        def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
            print(version_line())
            parser.exit()

    parser.add_argument("--version", nargs=0, action=PrintVersion, help="print the version, Python and hot path, and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "run the sink until the input ends (or forever with follow)"),
        ("check", "validate the config, connect, check/create topics, route and encode a sample"),
        ("config", "print the effective configuration ('config show') and where each value came from"),
        ("checkpoint", "'checkpoint show' prints the stored checkpoint; 'checkpoint reset' moves it aside to start over"),
        ("consume", "read a topic and print its messages as events (NDJSON input for 'run', or a table on a terminal)"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        if name == "config":
            cmd.add_argument("action", choices=["show"])
        elif name == "checkpoint":
            cmd.add_argument("action", choices=["show", "reset"])
        elif name == "consume":
            _consume_arguments(cmd)
        cmd.add_argument(
            "--config", "-c", help="YAML config file (default: $CDCSINK_CONFIG, else /etc/cdcsink/cdcsink.yaml if present, else env vars only)"
        )
    args = parser.parse_args(argv)
    if args.command != "run":
        _release_stop_signals()
    if args.command == "consume":
        return _consume(args)

    import asyncio

    from cdcsink.config import load_settings
    from cdcsink.errors import CdcsinkError, ConfigError, InvalidEventError
    from cdcsink.logs import configure_logging

    try:
        settings = load_settings(args.config)
        if args.command == "config":
            from cdcsink.config import show_config

            print(show_config(args.config))
            return EXIT_OK
        if args.command == "checkpoint":
            from cdcsink.checkpoint import manage

            print(manage.show(settings) if args.action == "show" else manage.reset(settings))
            return EXIT_OK
    except ConfigError as error:
        return _fail(EXIT_CONFIG, str(error), _log_format_without_settings(args.config))
    log_format = settings.log.format
    configure_logging(log_format, settings.log.level, settings.changefeed)
    _event_loop_policy()
    if args.command == "run":
        # From the moment the event loop starts, a signal would reach both the early handler
        # and the loop's wakeup fd, and so count twice (a drain turned into 'second signal'):
        # it is held back until the daemon's handlers are in place, then delivered once.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return asyncio.run(_run(settings) if args.command == "run" else _check(settings))
    except ConfigError as error:
        return _fail(EXIT_CONFIG, str(error), log_format)
    except InvalidEventError as error:
        return _fail(EXIT_INVALID_INPUT, str(error), log_format)
    except CdcsinkError as error:
        return _fail(EXIT_FAILURE, str(error), log_format)
    except KeyboardInterrupt:
        return EXIT_FORCED
    except Exception as error:  # a client library error that escaped classification
        return _fail(EXIT_FAILURE, f"{type(error).__name__}: {error}", log_format)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _consume_arguments(cmd: Any) -> None:
    cmd.add_argument("--bootstrap", "-b", help="brokers, host:port[,host:port...] (default: the config's sink.uri)")
    cmd.add_argument("--topic", "-t", help="the topic (default: the config's default topic)")
    from cdcsink.codec.registry import PROTOCOLS  # (light: no protocol module is imported)

    cmd.add_argument("--protocol", "-p", choices=list(PROTOCOLS), help="the messages' protocol (default: the config's sink.protocol)")
    cmd.add_argument("--partition", type=int, action="append", help="read only this partition (repeatable)")
    start = cmd.add_mutually_exclusive_group()
    start.add_argument("--since", help="from this time: 2025-01-02T10:00:00Z, ms since the epoch, or a duration before now (15m, 2h, 1d)")
    start.add_argument("--offset", type=int, help="from this offset of each partition")
    start.add_argument("--from-end", action="store_true", help="from the end: only what arrives from now on (with --follow)")
    cmd.add_argument("--follow", "-f", action="store_true", help="keep reading (default: stop at the end offsets found at start)")
    cmd.add_argument("--count", "-n", type=int, help="stop after this many events")
    cmd.add_argument("--large-message-handle-compression", choices=["none", "lz4", "snappy", "zstd"],
                     help="the compression the values were written with (default: the config's, else none)")
    cmd.add_argument("--skip-invalid", action="store_true",
                     help="a message that does not decode is reported on stderr and skipped (default: stop on it, exit 3)")
    cmd.add_argument("--output", "-o", choices=["ndjson", "table"], help="default: table on a terminal, else ndjson")


def _consume(args: Any) -> int:
    """``cdcsink consume``: its own options first, the config's sink for what they leave out."""
    from cdcsink.consume import ConsumeOptions, parse_since, run
    from cdcsink.errors import CdcsinkError, ConfigError, InvalidEventError, KafkaUnreachableError
    from cdcsink.logs import configure_logging

    configure_logging("console", "warning")
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a broker it cannot reach is one line of ours
    try:
        settings = None
        if args.config or not (args.bootstrap and args.topic and args.protocol):
            from cdcsink.config import load_settings

            try:
                settings = load_settings(args.config)
            except ConfigError as error:
                if args.config:
                    raise
                raise ConfigError(
                    "consume: give --bootstrap, --topic and --protocol, or a config whose sink.uri names them "
                    f"(--config FILE) ({str(error).splitlines()[0]})"
                ) from None
        sink = settings.sink if settings is not None else None
        bootstrap = [b.strip() for b in args.bootstrap.split(",") if b.strip()] if args.bootstrap else sink.brokers  # type: ignore[union-attr]
        protocol = args.protocol or (sink.protocol if sink is not None else None)
        from cdcsink.codec.registry import PROTOCOLS

        if protocol not in PROTOCOLS:
            raise ConfigError(f"consume: --protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if args.count is not None and args.count < 1:
            raise ConfigError("consume: --count must be 1 or more")
        if args.offset is not None and args.offset < 0:
            raise ConfigError("consume: --offset must be 0 or more")
        security: dict[str, Any] = {}
        if sink is not None and not args.bootstrap:
            from cdcsink.kafka.aiokafka_client import security_kwargs

            security = security_kwargs(sink.security_options("sink"))
        start, start_at = "beginning", 0
        if args.from_end:
            start = "end"
        elif args.offset is not None:
            start, start_at = "offset", args.offset
        elif args.since is not None:
            start, start_at = "since", parse_since(args.since)
        options = ConsumeOptions(
            bootstrap=bootstrap,
            topic=args.topic or sink.topic,  # type: ignore[union-attr]
            protocol=protocol,
            compression=args.large_message_handle_compression
            or (sink.large_message_handle_compression if sink is not None else "none"),
            partitions=args.partition,
            start=start,
            start_at=start_at,
            follow=args.follow,
            count=args.count,
            skip_invalid=args.skip_invalid,
            output=args.output or ("table" if sys.stdout.isatty() else "ndjson"),
            security=security,
        )
        return run(options)
    except ConfigError as error:
        return _fail(EXIT_CONFIG, str(error), "console")
    except InvalidEventError as error:
        return _fail(EXIT_INVALID_INPUT, str(error), "console")
    except (KafkaUnreachableError, CdcsinkError) as error:
        return _fail(EXIT_FAILURE, str(error), "console")
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is how a --follow is stopped
    except Exception as error:  # a client library error that escaped classification
        return _fail(EXIT_FAILURE, f"{type(error).__name__}: {error}", "console")


if __name__ == "__main__":
    sys.exit(main())
