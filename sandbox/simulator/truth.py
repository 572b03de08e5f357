"""The simulator's ground truth: every block with its final canonical/stale status,
every price, every projected-block state by (epoch, sequence), every stats sample.
JSON lines, so a verifier can stream it; the last line is the final chain."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import IO, Any

from sandbox.simulator.model import Block, Event, Model, Update


def _block_line(block: Block) -> dict[str, Any]:
    return {
        "kind": "block",
        "hash": block.hash,
        "height": block.height,
        "prev": block.prev,
        "timestamp": block.timestamp,
        "tx_count": block.tx_count,
        "total_fees": block.total_fees,
        "match_rate": block.match_rate,
        "seen_overlap_pct": block.seen_overlap_pct,
    }


def _projected_line(update: Update) -> dict[str, Any]:
    return {
        "kind": "projected",
        "epoch": update.epoch,
        "sequence": update.sequence,
        "time": update.time,
        "sent": update.sent,
        "tx_count": len(update.full),
        "total_fees": sum(t.fee for t in update.full),
        "total_vsize": sum(t.vsize for t in update.full),
    }


def _stats_line(update: Update) -> dict[str, Any]:
    """The stats sent in the same frame as this sequence (computed when it is sent)."""
    return {
        "kind": "stats",
        "epoch": update.epoch,
        "sequence": update.sequence,
        "time": update.time,
        "mempool_size": update.mempool_info["size"],
        "vbytes_per_second": update.vbytes_per_s,
    }


class TruthWriter:
    def __init__(self, path: Path | None) -> None:
        self._file: IO[str] | None = None
        self._served: set[tuple[Any, ...]] = set()
        # Blocks whose line is written: the final chain holds only these (a stop signal
        # can land between the model mining a block and its line being written).
        self._written_blocks: set[str] = set()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w")

    def _write(self, obj: dict[str, Any]) -> None:
        file = self._file
        if file is None:
            return
        # A stop signal may close the file between the check and the write: the truth
        # ended with its final line, and what comes after it is not part of it.
        with contextlib.suppress(ValueError):
            file.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def served(self, what: str, **key: Any) -> None:
        """Something reached a client (a WebSocket frame or a REST answer): only what was
        served can be expected downstream. Written once per item."""
        ident = (what, *sorted(key.items()))
        if self._file is None or ident in self._served:
            return
        self._served.add(ident)
        self._write({"kind": "served", "what": what, **key})

    def served_frame(self, frame: dict[str, Any], epoch: int) -> None:
        if self._file is None:
            return
        for block in ([frame["block"]] if "block" in frame else []) + frame.get("blocks", []):
            self.served("block", hash=block["id"])
        if isinstance(frame.get("conversions"), dict):
            self.served("price", time=frame["conversions"]["time"])
        projected = frame.get("projected-block-transactions")
        if isinstance(projected, dict):
            self.served("projected", epoch=epoch, sequence=projected["sequence"])
            if "mempoolInfo" in frame and ("delta" in projected or "block" in frame):
                # Stats sent with a sequence's own update (not a resubscription's answer).
                self.served("stats", epoch=epoch, sequence=projected["sequence"])

    def _write_block(self, block: Block) -> None:
        self._write(_block_line(block))
        self._written_blocks.add(block.hash)

    def history(self, chain: list[Block]) -> None:
        for block in chain:
            self._write_block(block)

    def event(self, event: Event, model: Model) -> None:
        if self._file is None:
            return
        if event.kind == "block":
            self._write_block(event.data)
            if event.update is not None:
                self._write(_projected_line(event.update))
                self._write(_stats_line(event.update))
        elif event.kind == "reorg":
            for block in event.data["stale"]:
                self._write({"kind": "stale", "hash": block.hash, "height": block.height})
            for block in event.data["new"]:
                self._write_block(block)
        elif event.kind == "update":
            update: Update = event.data
            self._write(_projected_line(update))
            self._write(_stats_line(update))
        elif event.kind == "conversions":
            self._write({"kind": "price", **event.data})
        elif event.kind == "restart":
            self._write({"kind": "restart", "epoch": event.data["epoch"], "time": event.time})
        file = self._file
        if file is not None:
            with contextlib.suppress(ValueError):
                file.flush()

    def close(self, model: Model) -> None:
        if self._file is None:
            return
        stale = sorted(h for h, b in model.by_hash.items() if b.stale)
        chain = [b for b in model.chain if b.hash in self._written_blocks]
        self._write(
            {
                "kind": "final",
                "tip_height": chain[-1].height if chain else model.tip.height,
                "canonical": [b.hash for b in chain],
                "stale": stale,
            }
        )
        self._file.close()
        self._file = None


def read_truth(path: Path) -> list[dict[str, Any]]:
    """Every complete line (a simulator killed mid-write leaves a partial last one)."""
    lines = []
    for text in path.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines
