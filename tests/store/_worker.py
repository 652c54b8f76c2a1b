"""Worker processes for the fault tests.

Run as ``python _worker.py STORE_DIR DATABASE_URL VISIT_ID``: it imports the
library once, then reads commands on stdin and forks one real process per
command, so the tests do not pay the import time for every process:

``go FIRST COUNT LOG``
    fork a writer that opens the store, prints ``ready`` to LOG, adds COUNT
    photos (0: until killed) with one ``add_photos`` call each, and prints
    ``ok <sha256>`` to LOG after each call returns. Replies ``pid <pid>``.
``wait``
    wait for every writer; reply ``exit <pid> <code>`` per writer, then ``done``.
"""

import itertools
import os
import sys

import tracker.analysis  # noqa: F401  imported once here, before forking
from _util import png_bytes

import tracker.photo  # noqa: F401
from tracker.store import NewPhoto, Store


def _writer(store_dir: str, url: str, visit_id: int, first: int, count: int, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    store = Store.open(store_dir, database_url=url, user=f"worker-{first}")
    print("ready", flush=True)
    seeds = itertools.count(first) if count == 0 else range(first, first + count)
    for seed in seeds:
        (added,) = store.add_photos(visit_id, [NewPhoto("vertex", png_bytes(seed))])
        assert not added.duplicate
        print("ok", added.photo.sha256, flush=True)
    store.close()


def main() -> None:
    store_dir, url, visit_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    children = []
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "go":
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    _writer(store_dir, url, visit_id, int(args[0]), int(args[1]), args[2])
                except BaseException:
                    import traceback

                    traceback.print_exc()
                    code = 1
                finally:
                    sys.stdout.flush()
                    os._exit(code)
            children.append(pid)
            print("pid", pid, flush=True)
        elif cmd == "wait":
            for pid in children:
                _, status = os.waitpid(pid, 0)
                print("exit", pid, os.waitstatus_to_exitcode(status), flush=True)
            children.clear()
            print("done", flush=True)


if __name__ == "__main__":
    main()
