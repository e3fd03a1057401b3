"""What a run needs that can be checked without Kafka, checked before connecting,
so that nothing (a topic) is created for a run that cannot start.

Each check raises :class:`ConfigError` naming the setting, or returns one line
for ``cdcsink check`` to print.
"""

from __future__ import annotations

import os

from cdcsink.config import Settings
from cdcsink.decode.dead_letter import dead_letter_file
from cdcsink.codec.common.large import ClaimCheckStorage
from cdcsink.errors import ConfigError
from cdcsink.source.config import SourceConfig


def check_input(source: SourceConfig) -> str:
    """The input files exist and can be read (a file source); one line saying what is read."""
    if source.type == "stdin":
        return "input: stdin"
    if source.type == "kafka":
        what = f"topics {', '.join(source.topics)}" if source.topics else f"topic-pattern {source.topic_pattern}"
        return f"input: kafka {','.join(source.bootstrap)} {what}, group {source.group}"
    if source.type == "postgres":
        from cdcsink.source.postgres.connection import describe_dsn

        return f"input: {describe_dsn(source.dsn or '')} publication {source.publication}, slot {source.slot}"
    from cdcsink.source.file import FileSource

    files = FileSource(source.path, follow=source.follow).files()  # a missing plain path: ConfigError
    if not files and not source.follow:
        raise ConfigError(f"source.path: no file matches {', '.join(source.path)}")
    waiting = []
    for path in files:
        if not os.path.exists(path):
            waiting.append(path)  # follow: read once it appears
        elif os.path.isdir(path):
            raise ConfigError(f"source.path: {path}: is a directory, not an NDJSON file")
        else:
            try:
                with open(path, "rb"):
                    pass
            except OSError as error:
                raise ConfigError(f"source.path: {path}: cannot read: {error.strerror}") from None
    readable = [path for path in files if path not in waiting]
    line = f"input: {len(readable)} file{'s' if len(readable) != 1 else ''} readable"
    if readable:
        line += f" ({', '.join(readable)})"
    if waiting:
        line += f"; not there yet, followed once created: {', '.join(waiting)}"
    elif not files:
        line += f"; none matches {', '.join(source.path)} yet (followed once created)"
    return line


def check_outputs(settings: Settings) -> list[str]:
    """The claim-check directory and a dead-letter file can be written."""
    lines = []
    sink = settings.sink
    if sink.large_message_handle_option == "claim-check" and sink.claim_check_storage_uri:
        storage = ClaimCheckStorage(sink.claim_check_storage_uri)
        storage.check_writable()
        lines.append(f"claim-check storage: {storage.directory} writable")
    if settings.source.on_invalid == "dead-letter":
        dead_file = dead_letter_file(settings.source.dead_letter)
        if dead_file is not None:
            dead_file.check_writable()
            lines.append(f"dead-letter: {dead_file.description} writable")
    return lines


def preflight(settings: Settings) -> list[str]:
    """Every check that needs no Kafka: the input, the claim-check directory, a dead-letter file."""
    return [check_input(settings.source), *check_outputs(settings)]
