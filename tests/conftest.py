from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simfixture import SimServers, run_sim

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServers]:
    """The three local vendor servers, one process for the whole test session."""
    with run_sim(tmp_path_factory.mktemp("sim")) as servers:
        yield servers
