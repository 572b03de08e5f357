"""The canonical chain, derived from block links, never assumed (pure logic).

Whatever the blocks claim, the work is bounded by the blocks given: a link is followed
only to a parent exactly one height below (a parent at any other height is a broken link,
treated as a gap), so no chain of claims can loop, and gaps are reported as runs of
heights, never one row per missing height.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class BlockLink:
    block_hash: str
    height: int
    previous_hash: str | None
    first_seen: str  # sortable timestamp text; the earliest seen wins a tie at the tip


def canonical_hashes(blocks: Iterable[BlockLink], above: BlockLink | None = None) -> set[str]:
    """Follow previousblockhash down from the top. Where a parent is missing (a gap),
    resume from the best block below it: one that some block names as parent, else the
    first seen.

    The top is the highest block given (the first seen of them), or, when the chain above
    these blocks is already settled, the parent of `above`, the lowest canonical block
    over them: the chain continues through it (or through a gap below it)."""
    by_hash = {b.block_hash: b for b in blocks}
    if not by_hash:
        return set()
    referenced = {b.previous_hash for b in by_hash.values() if b.previous_hash}
    by_height: dict[int, list[BlockLink]] = {}
    for b in by_hash.values():
        by_height.setdefault(b.height, []).append(b)
    heights = iter(sorted(by_height, reverse=True))

    def best_below(height: int) -> BlockLink | None:
        """The best block at the highest height present below `height`."""
        for h in heights:  # descending, and only ever asked for lower heights
            if h < height:
                return min(
                    by_height[h],
                    key=lambda b: (b.block_hash not in referenced, b.first_seen, b.block_hash),
                )
        return None

    def parent_of(block: BlockLink) -> BlockLink | None:
        parent = by_hash.get(block.previous_hash or "")
        return parent if parent is not None and parent.height == block.height - 1 else None

    current: BlockLink | None
    if above is not None:
        current = parent_of(above) or best_below(above.height)
    else:
        top = max(by_height)
        current = min(by_height[top], key=lambda b: (b.first_seen, b.block_hash))
    canonical: set[str] = set()
    while current is not None:
        canonical.add(current.block_hash)
        current = parent_of(current) or best_below(current.height)
    return canonical


def missing_runs(canonical_heights: Iterable[int]) -> list[tuple[int, int]]:
    """The runs of heights with no canonical block between the lowest and the highest
    given, as (first, last) pairs: as many as there are holes, however wide each is."""
    heights = sorted(set(canonical_heights))
    return [(lo + 1, hi - 1) for lo, hi in pairwise(heights) if hi > lo + 1]


def clusters(heights: Iterable[int], reach: int) -> list[tuple[int, int]]:
    """Heights grouped where they lie within `reach` of each other, as (lowest, highest),
    highest first: each group's chain is re-derived on its own, top down, so a block far
    below the tip costs its own neighbourhood, not the whole chain above it."""
    groups: list[list[int]] = []
    for h in sorted(set(heights)):
        if groups and h - groups[-1][1] <= reach:
            groups[-1][1] = h
        else:
            groups.append([h, h])
    return [(lo, hi) for lo, hi in reversed(groups)]
