"""Waiting for something that happens on another task (a doorbell from Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> float:
    """Wait until ``condition()`` holds; returns the seconds it took, fails after ``timeout``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > timeout:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.01)
    return loop.time() - start
