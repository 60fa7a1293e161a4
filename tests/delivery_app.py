"""The app a worker process runs in tests/test_delivery_faults.py.

``flask --app tests.delivery_app urgentaction worker``, with its settings (the
shared database, the SMTP server's port, the lease) as JSON in
``UA_TEST_CONFIG``, the same settings the test's own app has.
"""

from __future__ import annotations

import json
import os

from flask import Flask

from flask_urgentaction import UrgentAction


def create_app() -> Flask:
    app = Flask("host", instance_path=os.environ["UA_TEST_INSTANCE"])
    app.config.update(json.loads(os.environ["UA_TEST_CONFIG"]))
    UrgentAction(app)
    return app
