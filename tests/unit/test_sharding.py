"""Issue 15.2: shards — the label filter every handler carries, the per-shard names, and
the example shard Deployment (manifests/shards/), which must stay the main one plus
``--shard``."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from crmsync import sharding
from crmsync.sharding import SHARD_LABEL, Sharding, in_shard, shard_of
from tests.conftest import REPO

MANIFESTS = REPO / "manifests"


@pytest.fixture
def shard() -> Iterator[type[Sharding]]:
    before = Sharding.shard
    yield Sharding
    Sharding.shard = before


def _body(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "s", "namespace": "n", "labels": labels}}


def test_the_default_instance_takes_only_unlabelled_objects(shard: type[Sharding]) -> None:
    shard.shard = ""
    assert in_shard(shard_of(_body({})))
    assert in_shard(shard_of(_body({SHARD_LABEL: ""})))
    assert not in_shard(shard_of(_body({SHARD_LABEL: "a"})))


def test_a_shard_takes_only_its_label(shard: type[Sharding]) -> None:
    shard.shard = "a"
    assert in_shard("a")
    assert not in_shard(None)  # kopf passes None for an absent label
    assert not in_shard("b")
    assert in_shard(shard_of(_body({SHARD_LABEL: "a", "other": "x"})))


def test_kopf_applies_the_label_filter(shard: type[Sharding]) -> None:
    """kopf's own matching of ``labels=`` (a callable gets the value, None when absent)."""
    from kopf._core.intents.registries import _matches_metadata

    def matches(labels: dict[str, str]) -> bool:
        return bool(
            _matches_metadata(pattern=sharding.LABELS, content=labels, kwargs={"x": 1}, cause=None)
        )

    shard.shard = "a"
    assert matches({SHARD_LABEL: "a"}) and not matches({}) and not matches({SHARD_LABEL: "b"})
    shard.shard = ""
    assert matches({}) and not matches({SHARD_LABEL: "a"})


def test_names_per_shard() -> None:
    assert sharding.finalizer("") == "crmsync.dev/finalizer"
    assert sharding.finalizer("a") == "crmsync.dev/finalizer-a"
    assert sharding.peering("") == "crmsync"
    assert sharding.peering("eu-1") == "crmsync-eu-1"
    for bad in ("A", "-a", "a-", "a_b", "x" * 41, ""):
        with pytest.raises(ValueError, match="shard name"):
            sharding.validate(bad)
    assert sharding.validate("x" * 40) == "x" * 40


def _docs(path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((MANIFESTS / path).read_text()) if d]


def test_the_shard_deployment_is_the_main_one_with_its_shard() -> None:
    main = _docs("deployment.yaml")[0]
    deployment, service = _docs("shards/shard-a.yaml")
    expected = copy.deepcopy(main)
    expected["metadata"]["name"] = "crmsync-operator-shard-a"
    pod_labels = {"app.kubernetes.io/name": "crmsync-operator-shard-a"}
    expected["spec"]["selector"]["matchLabels"] = pod_labels
    expected["spec"]["template"]["metadata"]["labels"] = pod_labels
    expected["spec"]["template"]["spec"]["containers"][0]["args"].append("--shard=a")
    assert deployment == expected
    # The main Service never selects the shard's pods; the shard's Service only them.
    main_service = _docs("service.yaml")[0]
    assert not set(main_service["spec"]["selector"].items()) <= set(pod_labels.items())
    assert service["spec"]["selector"] == pod_labels
    assert service["spec"]["ports"] == main_service["spec"]["ports"]
    # Scraped by the ServiceMonitor like the main Service.
    monitor = _docs("monitoring/servicemonitor.yaml")[0]
    assert set(monitor["spec"]["selector"]["matchLabels"].items()) <= set(
        service["metadata"]["labels"].items()
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl kustomize")
def test_the_shard_overlay_builds() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(MANIFESTS / "shards")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built) if d)
    assert kinds == [
        ("Deployment", "crmsync-operator-shard-a"),
        ("Service", "crmsync-operator-shard-a"),
    ]


def test_the_run_command_takes_a_shard() -> None:
    from crmsync.cli import build_parser

    assert build_parser().parse_args(["run"]).shard == ""
    assert build_parser().parse_args(["run", "--shard", "eu-1"]).shard == "eu-1"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--shard", "EU"])
