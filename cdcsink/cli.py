"""``cdcsink run`` and ``cdcsink check``.

Exit codes: 0 done (input fully delivered and checkpointed, or stopped by a
signal after draining); 1 delivery failure that restarting cannot fix, or
shutdown-timeout exceeded; 2 invalid configuration; 3 invalid input event;
130 a second signal forced an immediate exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Sequence

import structlog

from cdcsink.config import Settings, load_settings
from cdcsink.errors import CdcsinkError, ConfigError, InvalidEventError
from cdcsink.logs import configure_logging

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_INVALID_INPUT, EXIT_FORCED = 0, 1, 2, 3, 130

log = structlog.get_logger("cdcsink")


def _event_loop_policy() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _fail(code: int, message: str) -> int:
    """Print ``message`` (one problem per line) to stderr and return ``code``."""
    for line in message.splitlines() or [""]:
        print(f"cdcsink: {line}", file=sys.stderr)
    return code


async def _run(settings: Settings) -> int:
    from cdcsink.daemon import Daemon
    from cdcsink.preflight import preflight

    preflight(settings)  # the input and output files, before anything connects or creates a topic
    daemon = Daemon(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, daemon.on_signal, signum)
    result = await daemon.run()
    if result is not None:
        log.info(
            "done",
            checkpoint_ts=result.checkpoint_ts,
            rows=result.rows,
            ddls=result.ddls,
            messages=sum(result.messages.values()),
        )
    return EXIT_OK


async def _check(settings: Settings) -> int:
    from cdcsink.check import check

    if settings.log.level != "debug":
        # check reports why a broker cannot be reached in its own one line.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    for line in await check(settings):
        print(line)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdcsink", description="CDC change events in, ordered Kafka messages out.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "run the sink until the input ends (or forever with follow)"),
        ("check", "validate the config, connect, check/create topics, route and encode a sample"),
        ("config", "print the effective configuration ('config show') and where each value came from"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        if name == "config":
            cmd.add_argument("action", choices=["show"])
        cmd.add_argument(
            "--config", "-c", help="YAML config file (default: $CDCSINK_CONFIG, else /etc/cdcsink/cdcsink.yaml if present, else env vars only)"
        )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        if args.command == "config":
            from cdcsink.config import show_config

            print(show_config(args.config))
            return EXIT_OK
    except ConfigError as error:
        return _fail(EXIT_CONFIG, str(error))
    configure_logging(settings.log.format, settings.log.level, settings.changefeed)
    _event_loop_policy()
    try:
        return asyncio.run(_run(settings) if args.command == "run" else _check(settings))
    except ConfigError as error:
        return _fail(EXIT_CONFIG, str(error))
    except InvalidEventError as error:
        return _fail(EXIT_INVALID_INPUT, str(error))
    except CdcsinkError as error:
        return _fail(EXIT_FAILURE, str(error))
    except KeyboardInterrupt:
        return EXIT_FORCED
    except Exception as error:  # a client library error that escaped classification
        return _fail(EXIT_FAILURE, f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    sys.exit(main())
