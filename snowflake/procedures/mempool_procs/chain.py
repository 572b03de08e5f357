"""The canonical chain, derived from block links, never assumed (pure logic)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class BlockLink:
    block_hash: str
    height: int
    previous_hash: str | None
    first_seen: str  # sortable timestamp text; the earliest seen wins a tie at the tip


def canonical_hashes(blocks: Iterable[BlockLink]) -> set[str]:
    """Follow previousblockhash from the tip. Where a parent is missing (a gap), resume
    from the best block below it: one that some block names as parent, else first seen."""
    by_hash = {b.block_hash: b for b in blocks}
    if not by_hash:
        return set()
    referenced = {b.previous_hash for b in by_hash.values() if b.previous_hash}
    by_height: dict[int, list[BlockLink]] = {}
    for b in by_hash.values():
        by_height.setdefault(b.height, []).append(b)

    def best_at(height: int) -> BlockLink:
        candidates = by_height[height]
        return min(
            candidates, key=lambda b: (b.block_hash not in referenced, b.first_seen, b.block_hash)
        )

    top = max(by_height)
    tip = min(by_height[top], key=lambda b: (b.first_seen, b.block_hash))
    canonical: set[str] = set()
    current: BlockLink | None = tip
    while current is not None:
        canonical.add(current.block_hash)
        parent = by_hash.get(current.previous_hash or "")
        if parent is not None:
            current = parent
            continue
        lower = [h for h in by_height if h < current.height]
        current = best_at(max(lower)) if lower else None
    return canonical


def missing_heights(canonical_heights: Iterable[int]) -> list[int]:
    heights = sorted(set(canonical_heights))
    if not heights:
        return []
    present = set(heights)
    return [h for h in range(heights[0], heights[-1] + 1) if h not in present]
