"""Niceness for a whole worker process.

On Linux `os.nice` changes only the calling thread, so threads that imports had already
started (OpenBLAS's pool, for one) kept running at the server's priority beside a niced worker.
"""

from __future__ import annotations

import contextlib
import os

_TASKS = "/proc/self/task"


def nice_process(increment: int) -> None:
    """Raise the niceness of every thread of this process by `increment`. Threads started
    later inherit it from the thread that starts them."""
    if not os.path.isdir(_TASKS):  # not Linux: there the niceness is the process's
        os.nice(increment)
        return
    for task in os.listdir(_TASKS):
        thread = int(task)
        with contextlib.suppress(ProcessLookupError):  # it has just exited
            os.setpriority(os.PRIO_PROCESS, thread,
                           os.getpriority(os.PRIO_PROCESS, thread) + increment)
