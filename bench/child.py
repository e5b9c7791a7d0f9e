"""Run one command and report its wall time and peak memory as JSON (used by common.run_child).

Why a launcher: Linux counts in a child's peak RSS the memory of the process it was forked from, as it was
before exec. Forked from the benchmark (which holds a million-row frame), every child would "peak" at the
benchmark's size; forked from this small process, the figure is the command's own.

    python bench/child.py OUT.json -- COMMAND ARGS...
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    out, sep, *command = sys.argv[1:]
    if sep != "--" or not command:
        raise SystemExit("usage: child.py OUT.json -- COMMAND ARGS...")
    started_at = time.time()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: become the command
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    with open(out, "w") as fh:
        json.dump(
            {
                "seconds": seconds,
                "started_at": started_at,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "returncode": os.waitstatus_to_exitcode(status),
            },
            fh,
        )


if __name__ == "__main__":
    main()
