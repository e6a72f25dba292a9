"""crmsync.metrics: bounded label values and what one run records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync import metrics
from crmsync.providers.http import CallStats


def sample(name: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, labels)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/3.0/lists/a1b2c3d4e5/members/0f1e2d3c4b5a69788796a5b4c3d2e1f0", "lists/members"),
        ("/3.0/lists/a1b2c3d4e5/members/someone%40example.com/tags", "lists/members/tags"),
        ("/3.0/batches/8h2k3j4l5m", "batches"),
        ("/crm/v8/Contacts/5725767000000412001", "crm/contacts"),
        ("/crm/v8/Contacts/upsert", "crm/contacts/upsert"),
        ("https://accounts.example.test/oauth/v2/token?refresh_token=x", "oauth/token"),
        ("/api/v1.1/json/listsubscribe", "json/listsubscribe"),
        ("/", "root"),
    ],
)
def test_endpoint_class_drops_ids_emails_and_versions(path: str, expected: str) -> None:
    assert metrics.endpoint_class(path) == expected


def test_reason_labels_are_bounded() -> None:
    assert metrics.reason_label("opted_out") == "opted_out"
    assert metrics.reason_label("Member Exists") == "member_exists"
    assert metrics.reason_label("someone@example.com") == "other"
    assert metrics.reason_label("x" * 100) == "other"


def test_a_run_is_recorded_and_forgotten_with_its_sync() -> None:
    ended = datetime.now(UTC)
    metrics.record_run(
        "unit", "s1",
        trigger="Initial", outcome="Succeeded", duration=2.0, ended=ended.timestamp(),
        counts={"added": 5, "skipped_duplicate": 1}, skipped_by_reason={"duplicate_email": 1},
        members=5, checkpoint={"modifiedSince": (ended - timedelta(minutes=5)).isoformat()},
    )  # fmt: skip
    labels = {"namespace": "unit", "sync": "s1"}
    assert sample("crmsync_records_total", **labels, outcome="added") == 5
    assert sample("crmsync_records_total", **labels, outcome="failed") == 0
    assert sample("crmsync_records_skipped_total", **labels, reason="duplicate_email") == 1
    assert sample("crmsync_run_duration_seconds_count", **labels, trigger="Initial") == 1
    assert sample("crmsync_last_successful_run_timestamp_seconds", **labels) == ended.timestamp()
    metrics.observe_object(
        "contactsyncs",
        {
            "metadata": {"namespace": "unit", "name": "s1"},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "checkpoint": {"modifiedSince": (ended - timedelta(minutes=5)).isoformat()},
            },
        },
    )
    lag = sample("crmsync_sync_lag_seconds", **labels)
    assert lag is not None
    assert 299 < lag < 360
    ready = sample("crmsync_resources", kind="ContactSync", condition="Ready", status="True")
    assert ready is not None
    assert ready >= 1
    metrics.observe_object("contactsyncs", {"metadata": {"namespace": "unit", "name": "s1"}}, True)
    assert sample("crmsync_records_total", **labels, outcome="added") is None
    assert sample("crmsync_sync_lag_seconds", **labels) is None


def test_a_failed_run_does_not_move_the_last_success() -> None:
    metrics.record_run("unit", "s2", trigger="Poll", outcome="Failed", duration=1.0, ended=1000.0)
    labels = {"namespace": "unit", "sync": "s2"}
    assert sample("crmsync_runs_total", **labels, trigger="Poll", outcome="Failed") == 1
    assert sample("crmsync_last_successful_run_timestamp_seconds", **labels) is None


def test_the_http_layer_reports_through_the_observer() -> None:
    stats = CallStats(observer=metrics.API_OBSERVER)
    stats.record("5xx", vendor="mailchimp", method="GET", path="/3.0/lists/a1b2c3d4e5")
    assert stats.api_calls == 1
    got = sample(
        "crmsync_api_requests_total", provider="mailchimp", endpoint="lists", status_class="5xx"
    )
    assert got is not None
    assert got >= 1


async def test_retries_and_rate_limit_waits_are_counted() -> None:
    import httpx

    from crmsync.providers.http import HttpClient

    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200)])

    async def no_sleep(_: float) -> None:
        return None

    before = sample("crmsync_api_retry_wait_seconds_total", provider="unit", reason="rate_limited")
    stats = CallStats(observer=metrics.API_OBSERVER)
    transport = httpx.MockTransport(lambda _: next(answers))
    async with HttpClient(
        "unit", "http://vendor.test", stats, transport=transport, sleep=no_sleep
    ) as http:
        await http.request("GET", "/3.0/lists")
    assert stats.retries == 1
    assert sample("crmsync_api_retries_total", provider="unit", reason="rate_limited") == 1
    waited = sample("crmsync_api_retry_wait_seconds_total", provider="unit", reason="rate_limited")
    assert (waited or 0) - (before or 0) == 2
    assert (
        sample("crmsync_api_requests_total", provider="unit", endpoint="lists", status_class="4xx")
        == 1
    )
