"""Fuzz the central's OpenAPI schema with schemathesis: whatever arrives, never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from central_helpers import FakeDevice
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from sync.central.app import create_app


@pytest.fixture
def fuzz_target(central_db):
    app = create_app(central_db, docs=True, metrics_token="fuzz-metrics-token")
    device = FakeDevice()
    with TestClient(app) as client:
        device.enroll(client, central_db)
        assert device.push(client, [device.init_event(), device.task()]).status_code == 200
    return schemathesis.openapi.from_asgi("/openapi.json", app), device


def test_no_request_gets_a_server_error(fuzz_target):
    schema, device = fuzz_target
    operations = list(schema.get_all_operations())
    assert {op.ok().path for op in operations} >= {"/v1/push", "/v1/pull", "/v1/enroll", "/readyz", "/metrics"}
    tried = 0
    for result in operations:
        operation = result.ok()
        strategy = operation.as_strategy()

        @settings(max_examples=60 if operation.method.upper() == "POST" else 15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            nonlocal tried
            tried += 1
            for headers in (device.auth, None):
                case.call_and_validate(headers=headers, checks=[not_a_server_error])

        from hypothesis import given

        given(strategy)(check)()
    assert tried >= len(operations) + 2 * 25  # the bodies of push and enroll were varied
