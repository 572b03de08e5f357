"""A journal on local disk for records that could not be delivered yet.

Records are appended to segment files per delivery stream and replayed oldest first.
Progress inside a segment is checkpointed after every delivered batch, so a replay
that fails half-way resumes where it stopped: nothing is lost and nothing sent twice
by the journal itself. Memory stays bounded: only one batch is read at a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class ReplayStalled(RuntimeError):
    """The receiver stopped taking records; what it did not take stays first in line."""


class Spool:
    def __init__(self, root: Path, segment_bytes: int = 8 * 1024 * 1024) -> None:
        self.root = root
        self.segment_bytes = segment_bytes

    def _dir(self, delivery: str) -> Path:
        folder = self.root / delivery
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _segments(self, delivery: str) -> list[Path]:
        return sorted(self._dir(delivery).glob("*.ndjson"))

    def append(self, delivery: str, lines: list[bytes]) -> None:
        if not lines:
            return
        segments = self._segments(delivery)
        if (
            segments
            and segments[-1].stat().st_size < self.segment_bytes
            and self._ends_whole(segments[-1])
        ):
            target = segments[-1]
        else:
            number = int(segments[-1].stem) + 1 if segments else 1
            target = self._dir(delivery) / f"{number:012d}.ndjson"
        with target.open("ab") as fh:
            for line in lines:
                fh.write(line if line.endswith(b"\n") else line + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    @staticmethod
    def _ends_whole(seg: Path) -> bool:
        """False when a kill tore the last write: appending there would join the torn
        line and the next record into one unreadable line (two records quarantined)."""
        with seg.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return True
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def _checkpoint(self, seg: Path, position: int) -> None:
        """Replace the checkpoint whole: a kill between a truncate and a write left it
        empty, and the whole segment was sent again."""
        tmp = self._offset_file(seg).with_suffix(".offset-tmp")
        tmp.write_text(str(position))
        os.replace(tmp, self._offset_file(seg))

    def pending(self, delivery: str) -> int:
        """Records still waiting (lines past each segment's checkpoint)."""
        total = 0
        for seg in self._segments(delivery):
            offset = self._offset(seg)
            with seg.open("rb") as fh:
                fh.seek(offset)
                total += sum(1 for _ in fh)
        return total

    def has_pending(self, delivery: str) -> bool:
        return any(seg.stat().st_size > self._offset(seg) for seg in self._segments(delivery))

    @staticmethod
    def _offset_file(seg: Path) -> Path:
        return seg.with_suffix(".offset")

    def _offset(self, seg: Path) -> int:
        try:
            return int(self._offset_file(seg).read_text() or 0)
        except FileNotFoundError:
            return 0

    def replay(
        self,
        delivery: str,
        send: Callable[[list[bytes]], list[bytes]],
        batch_records: int = 500,
        batch_bytes: int = 4 * 1024 * 1024,
    ) -> int:
        """Send everything pending in order. `send` returns the lines it could not deliver;
        any such line stops the replay (ReplayStalled) and stays at the head of the journal.
        Returns the number of records delivered."""
        sent = 0
        for seg in self._segments(delivery):
            offset = self._offset(seg)
            with seg.open("rb") as fh:
                fh.seek(offset)
                while True:
                    batch: list[bytes] = []
                    size = 0
                    position = fh.tell()
                    while len(batch) < batch_records:
                        line = fh.readline()
                        if not line:
                            break
                        if batch and size + len(line) > batch_bytes:
                            fh.seek(position)
                            break
                        batch.append(line)
                        size += len(line)
                        position = fh.tell()
                    if not batch:
                        break
                    undelivered = send(batch)
                    sent += len(batch) - len(undelivered)
                    if undelivered:
                        tail = fh.read()
                        self._rewrite(seg, undelivered, tail)
                        raise ReplayStalled(f"{delivery}: {len(undelivered)} records not taken")
                    self._checkpoint(seg, position)
            seg.unlink()
            self._offset_file(seg).unlink(missing_ok=True)
        if sent:
            log.info("replayed %d spooled records to %s", sent, delivery)
        return sent

    def _rewrite(self, seg: Path, head: list[bytes], tail: bytes) -> None:
        """Replace a segment by `head` + `tail` atomically, checkpoint reset."""
        tmp = seg.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.writelines(head)
            fh.write(tail)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, seg)
        self._offset_file(seg).unlink(missing_ok=True)
