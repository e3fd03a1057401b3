"""The checkpoint store of a postgres source: the slot's confirmed position.

Each checkpoint is written to the ``checkpoint.store`` file first (it records
the feed, holds the daemon's lock, and says whether an initial snapshot
finished), then sent to the server as the flushed position of a standby
status update, which is what lets the slot release WAL. Both only ever hold a
position whose every earlier change Kafka acknowledged. A run resumes from the
file's position; the server starts from the later of that and the slot's own
confirmed position.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from cdcsink.checkpoint.store import Checkpoint, FileCheckpointStore

if TYPE_CHECKING:
    from cdcsink.source.postgres import PostgresSource


class SlotStore:
    def __init__(self, file: FileCheckpointStore, source: "PostgresSource") -> None:
        self.file = file
        self.source = source
        self.description = f"{file.description} and replication slot {source.config.slot}"
        #: One write at a time: the source stores the initial snapshot's end itself (see
        #: ``PostgresSource._record_snapshot_end``) while the periodic checkpoint may be writing too.
        self._writing = asyncio.Lock()

    def load(self) -> Checkpoint | None:
        return self.file.load()

    def check_writable(self) -> None:
        self.file.check_writable()

    async def save(self, checkpoint: Checkpoint) -> bool:
        async with self._writing:
            await self.file.save(checkpoint)
        lsn = (checkpoint.position or {}).get("lsn")
        if isinstance(lsn, int) and lsn > 0:
            self.source.confirm(lsn)
        return True
