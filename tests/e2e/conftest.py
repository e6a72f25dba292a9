from __future__ import annotations

from collections.abc import Iterator

import pytest

from crmsync.controlplane import ControlPlane
from crmsync.controlplane.binaries import find_binaries
from tests.conftest import REPO
from tests.kube import Kube


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    """A real kube-apiserver + etcd for the session, with crds/ installed."""
    binaries = find_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    plane.start(binaries)
    try:
        k = Kube(plane, binaries)
        k.apply(REPO / "crds")
        k.kubectl(
            "wait", "--for=condition=Established", "crd", "-l", "!x", "--all", "--timeout=60s"
        )
        yield k
    finally:
        plane.stop()
