"""Run a coroutine to completion on a fresh event loop in its own thread.

Playwright's sync API (the browser tests earlier in the session) leaves this thread looking
like it runs an event loop, and asyncio.run() refuses to start inside one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(asyncio.run(coroutine))
        except BaseException as error:  # handed to the caller's thread
            errors.append(error)

    thread = threading.Thread(target=target, name="tls-test-loop")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]
