"""`core.single_use` on both cache backends: of many threads claiming (or taking) one key at once, exactly one wins.

The filesystem backend always runs; the Redis one when REDIS_URL is set (as in the PostgreSQL+Redis run).
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from flask import Flask

from lti_tool.core import single_use
from lti_tool.extensions import cache

THREADS = 16
ROUNDS = 25

BACKENDS = [
    "filesystem",
    pytest.param("redis", marks=pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL not set")),
]


@pytest.fixture(params=BACKENDS)
def cache_app(request, tmp_path):
    """A bare app whose cache is the backend under test (the tool's settings for it)."""
    app = Flask(f"single-use-{request.param}")
    if request.param == "redis":
        app.config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=os.environ["REDIS_URL"],
                          CACHE_KEY_PREFIX=f"single-use-test-{os.getpid()}:")
    else:
        app.config.update(CACHE_TYPE="FileSystemCache", CACHE_DIR=str(tmp_path / "cache"), CACHE_THRESHOLD=0)
    cache.init_app(app)
    with app.app_context():
        cache.clear()
    yield app
    with app.app_context():
        cache.clear()


def _at_once(app, action) -> list:
    """`action()` in THREADS threads released together; their results."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def run(index: int) -> None:
        with app.app_context():
            barrier.wait()
            results[index] = action()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_of_many_simultaneous_claims_exactly_one_wins(cache_app):
    for round_ in range(ROUNDS):
        results = _at_once(cache_app, lambda key=f"nonce-{round_}": single_use.claim_once(key, 60))
        assert results.count(True) == 1, f"round {round_}: {results.count(True)} claims won"


def test_a_claim_holds_for_its_lifetime_and_ends_with_it(cache_app):
    with cache_app.app_context():
        assert single_use.claim_once("short", 1) is True
        assert single_use.claim_once("short", 1) is False
        time.sleep(2.1)
        assert single_use.claim_once("short", 60) is True  # expired: claimable again, and then held
        assert single_use.claim_once("short", 60) is False


def test_of_many_simultaneous_claims_of_an_expired_key_exactly_one_wins(cache_app):
    with cache_app.app_context():
        for round_ in range(5):
            assert single_use.claim_once(f"late-{round_}", 1)
    time.sleep(2.1)
    for round_ in range(5):
        results = _at_once(cache_app, lambda key=f"late-{round_}": single_use.claim_once(key, 60))
        assert results.count(True) == 1, f"round {round_}: {results.count(True)} claims won"


def test_of_many_simultaneous_takers_exactly_one_gets_the_value(cache_app):
    for round_ in range(ROUNDS):
        with cache_app.app_context():
            cache.set(f"state-{round_}", {"nonce": round_}, timeout=60)
        results = _at_once(cache_app, lambda key=f"state-{round_}": single_use.take_once(key))
        assert [r for r in results if r is not None] == [{"nonce": round_}], f"round {round_}"
        with cache_app.app_context():
            assert cache.get(f"state-{round_}") is None


def test_an_expired_value_is_not_taken(cache_app):
    with cache_app.app_context():
        cache.set("old-state", {"nonce": "n"}, timeout=1)
        time.sleep(2.1)
        assert single_use.take_once("old-state") is None
        assert single_use.take_once("never-stored") is None


def test_claims_are_ordinary_cache_entries_that_clear_removes(cache_app):
    with cache_app.app_context():
        assert single_use.claim_once("cleared", 60)
        assert cache.get("cleared") is True
        cache.clear()
        assert single_use.claim_once("cleared", 60)
