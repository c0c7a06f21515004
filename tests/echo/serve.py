"""``sms-connector`` with Echo registered: ``python tests/echo/serve.py serve --port N``.

A real provider needs no such file — its registry line is in adapters/sms/__init__.py. The
connector forks its queue worker from this process, so the worker sees Echo too.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.echo import register

    register()
    from connector.cli import main

    sys.exit(main(sys.argv[1:]))
