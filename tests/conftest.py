"""Shared fixtures: Hypothesis profiles, the real services (anvil, Redis, PostgreSQL), and the CI rule
that a skipped or xfailed test fails the run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from web3 import Web3

from polyhunter.chain.anvil import Anvil
from polyhunter.chain.deploy import deploy_local
from polyhunter.chain.deployment import Deployment
from polyhunter.chain.local import LocalChain

# Differential tests run >= 1,000 examples in CI; fewer locally keeps the edit-test loop short.
settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Supervisors built in tests serve metrics on a free port, not the default 9464 another run may hold.
os.environ.setdefault("SUPERVISOR_METRICS_ADDR", "127.0.0.1:0")

# Only these variables steer the tests; a user's own REDIS_URL / DATABASE_URL never do.
TEST_REDIS_URL = os.environ.get("POLYHUNTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_DATABASE_URL = os.environ.get(
    "POLYHUNTER_TEST_DATABASE_URL", "postgresql://polyhunter:polyhunter@127.0.0.1:5432/polyhunter_test"
)


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """One anvil node on a free loopback port for the whole session."""
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def redis_url() -> str:
    return TEST_REDIS_URL


@pytest.fixture(scope="session")
def database_url() -> str:
    return TEST_DATABASE_URL


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true, a skipped or xfailed test fails the run: a test that needs a service gets it."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    dodged = [r for kind in ("skipped", "xfailed") for r in reporter.stats.get(kind, [])]
    if dodged and exitstatus == 0:
        reporter.write_line(f"CI=true: {len(dodged)} skipped/xfailed test(s) fail the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- the local world (issue 4): one deployment per session on its own anvil, a snapshot per test ---------


@pytest.fixture(scope="session")
def local_deployment() -> Iterator[tuple[Anvil, Deployment]]:
    """The whole local world on a fresh anvil, deployed once; the owner's first deployment is the
    collateral, so addresses and token ids are the same in every run."""
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        yield node, deploy_local(w3, rpc_url=node.rpc_url, ws_url=node.ws_url)


@pytest.fixture
def local_chain(local_deployment: tuple[Anvil, Deployment]) -> Iterator[LocalChain]:
    """The local world for one test; every change the test makes is reverted afterwards."""
    _node, deployment = local_deployment
    chain = LocalChain.connect(deployment)
    snapshot = chain.snapshot()
    yield chain
    chain.revert(snapshot)


# State layer (issue 5): isolated PostgreSQL schemas and Redis key prefixes, so parallel runs never collide.


@pytest.fixture
def pg_url(database_url: str) -> Iterator[str]:
    """A `DATABASE_URL` on a fresh, empty PostgreSQL schema of the test database (dropped afterwards)."""
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{separator}search_path={schema}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A unique Redis key prefix; every key under it is deleted afterwards."""
    import uuid

    import redis

    prefix = f"phtest:{uuid.uuid4().hex[:16]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{{{prefix}}}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
