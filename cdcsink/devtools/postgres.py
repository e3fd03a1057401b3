"""A throw-away PostgreSQL server for the tests and ``make demo-postgres``: Debian's ``postgresql`` package, a cluster made
with ``initdb`` in a temporary directory (``wal_level=logical``), listening on a free
loopback port, stopped by its PID.

``initdb`` and ``postgres`` refuse to run as root: as root (CI) both run as the
``postgres`` OS user the package creates, in a directory that user owns.
``.ci/run`` installs the package where it is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from cdcsink.devtools.broker import free_port


def postgres_bin() -> Path:
    """The newest installed server's bin directory (Debian keeps it off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does)")
    return Path(found[-1]).parent


class PostgresServer:
    """``with PostgresServer() as server: server.dsn("db")``."""

    def __init__(self, **settings: str) -> None:
        """``settings``: server settings over the defaults below (``wal_level="replica"``)."""
        self.settings = settings
        self.bin = postgres_bin()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="cdcsink-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> "PostgresServer":
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            check=True, capture_output=True, cwd=self.directory, **self._as,
        )
        settings = {
            "listen_addresses": "127.0.0.1", "port": str(self.port), "unix_socket_directories": str(self.directory),
            "wal_level": "logical", "max_replication_slots": "20", "max_wal_senders": "20", "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "64MB",
            "wal_sender_timeout": "60s", "max_connections": "100",
            **self.settings,
        }
        args = [str(self.bin / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=out, cwd=self.directory, **self._as)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited {self.process.returncode}:\n{self.log.read_text()[-2000:]}")
            try:
                psycopg2.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        self.execute("postgres", f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def execute(self, database: str, *statements: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run each statement in its own transaction (autocommit); the last one's rows."""
        import psycopg2

        connection = psycopg2.connect(self.dsn(database))
        connection.autocommit = True
        rows: list[tuple[Any, ...]] = []
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement, args)
                    rows = cursor.fetchall() if cursor.description is not None else []
        finally:
            connection.close()
        return rows

    def slot(self, database: str, slot: str) -> tuple[int, bool] | None:
        """The slot's confirmed_flush_lsn (as an integer) and whether a process holds it."""
        rows = self.execute(
            database,
            "SELECT confirmed_flush_lsn - '0/0', active FROM pg_replication_slots WHERE slot_name = %s",
            args=(slot,),
        )
        return (int(rows[0][0]), bool(rows[0][1])) if rows else None
