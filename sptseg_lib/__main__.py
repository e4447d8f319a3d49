"""``python -m sptseg_lib``: the command line of :mod:`sptseg_lib.cli`.

A ``train`` into a run folder that another process is training in is refused here, before anything else
runs (:func:`~sptseg_lib.run_lock.refuse_busy_train`).
"""

from __future__ import annotations

import sys

from .cli import build_parser, main

if __name__ == "__main__":
    from .run_lock import refuse_busy_train

    refuse_busy_train(sys.argv[1:])
    sys.exit(main())

__all__ = ["build_parser", "main"]
