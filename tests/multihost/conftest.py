"""Fixtures of the multi-host tests: hosts as network namespaces on a bridge (network.py).

``network`` is a started ``Network`` of 3 hosts, shared by the tests of a module (it starts
in about a second and a half) and reset after each test: no process left in any host, no
forwarder, no cut, Redis running and empty, the test database made anew. Should the reset
fail, that Network is closed and the next test gets a new one.

Where a Network cannot run (not Linux, not root, no ``ip``, ``iptables``, PostgreSQL's
``initdb`` or redis-server, or ``ip netns add`` refused), the tests are skipped saying why;
in CI (``CI=true``) they fail instead, since a skip there would hide the whole tier. A test
that builds Networks of its own asks for ``multihost_ready`` for the same check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.multihost.network import Network, network_missing

HOSTS = 3


def require_multihost() -> None:
    """Skip the test (fail it in CI) when a Network cannot run here."""
    reason = network_missing()
    if reason is None:
        return
    message = f"the multi-host tests cannot run here: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must provide it (make netns-tools)")
    pytest.skip(f"{message} (make netns-tools installs iptables)")


@pytest.fixture
def multihost_ready() -> None:
    """For tests that start Networks of their own: the skip (or CI failure) of ``network``."""
    require_multihost()


class _Slot:
    """The module's Network, made on first use and again after a failed reset."""

    def __init__(self) -> None:
        self.network: Network | None = None

    def get(self) -> Network:
        if self.network is None or not self.network.running:
            self.network = None
            network = Network(hosts=HOSTS)
            network.start()
            self.network = network
        return self.network

    def close(self) -> None:
        if self.network is not None:
            self.network.close()
            self.network = None


@pytest.fixture(scope="module")
def _network_slot() -> Iterator[_Slot]:
    require_multihost()
    slot = _Slot()
    try:
        yield slot
    finally:
        slot.close()


@pytest.fixture
def network(_network_slot: _Slot) -> Iterator[Network]:
    """A started Network of 3 hosts, reset after the test (see the module's docstring)."""
    net = _network_slot.get()
    yield net
    try:
        net.reset()
    except BaseException:
        _network_slot.close()
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the end of each log of the test's Network to its failure (the temp dir goes)."""
    report = yield
    if report.failed and report.when == "call":
        net = getattr(item, "funcargs", {}).get("network")
        if isinstance(net, Network):
            for path in net.log_paths():
                try:
                    tail = "\n".join(path.read_text(errors="replace").splitlines()[-60:])
                except OSError:
                    continue
                report.sections.append((f"{path.name} (last 60 lines)", tail))
    return report
