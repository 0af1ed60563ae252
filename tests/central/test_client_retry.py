"""The sync client's retry policy, against a transport that answers what each test needs."""

from __future__ import annotations

import random

import httpx
import pytest

from app.services import sync as sync_service


def client(handler) -> httpx.Client:
    return httpx.Client(base_url="http://central.test", transport=httpx.MockTransport(handler))


def test_backoff_is_full_jitter_within_a_growing_capped_bound():
    retry = sync_service.Retry(base=0.25, cap=2.0, rng=random.Random(3))
    for attempt in range(12):
        bound = min(2.0, 0.25 * 2 ** attempt)
        delays = [retry.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # jitter spreads over the whole range


def test_5xx_and_network_errors_are_retried_then_reported():
    calls, slept = [], []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(503, json={"error": "unavailable", "detail": "database down"})

    retry = sync_service.Retry(attempts=4, sleep=slept.append, rng=random.Random(1))
    with pytest.raises(sync_service.CentralUnreachable, match="after 4 tries"), client(handler) as c:
        sync_service.call(c, "GET", "/v1/pull", retry)
    assert len(calls) == 4 and len(slept) == 3


def test_a_retry_that_succeeds_returns_the_answer():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(502) if len(calls) < 3 else httpx.Response(200, json={"ok": True})

    with client(handler) as c:
        resp = sync_service.call(c, "GET", "/x", sync_service.Retry(attempts=5, sleep=lambda s: None))
    assert resp.json() == {"ok": True} and len(calls) == 3


def test_4xx_is_not_retried_and_carries_the_reason():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(403, json={"error": "not_your_device", "detail": "A device may push only its own."})

    with pytest.raises(sync_service.SyncRefused, match="403 not_your_device") as err, client(handler) as c:
        sync_service.call(c, "POST", "/v1/push", sync_service.Retry(attempts=5, sleep=lambda s: None))
    assert len(calls) == 1 and err.value.status == 403
