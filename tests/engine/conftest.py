"""Fixtures of the engine tests: the tiny-random model is built once per session in a temporary cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine_testlib import make_bundle

@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory) -> Path:
    """A private engine cache holding the tiny-random model, built once for the whole session."""
    cache = tmp_path_factory.mktemp("engine-cache")
    os.environ["NEURAL_PREVIS_CACHE"] = str(cache)
    from engine.backends import tiny_random

    tiny_random.ensure_built(cache)
    return cache


@pytest.fixture(scope="session")
def session(engine_cache):
    """One engine Session for in-process tests: the tiny pipeline is loaded once and reused."""
    from engine.generation.session import Session

    return Session()


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


