"""``python -m connector`` is ``sms-connector``."""

import sys

from connector.cli import main

sys.exit(main())
