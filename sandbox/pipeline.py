"""The pipeline parts that plug into the local stack after the emulators."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.demo import Component, DemoOptions


def components(opts: DemoOptions) -> list[Component]:
    return []
