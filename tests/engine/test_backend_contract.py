"""Every registered backend's class fulfils the contract of ``engine.backends.base.Backend``: each
method the engine calls exists with the contract's parameters, and each attribute is set."""

import inspect

import pytest

from engine.backends import BACKENDS, base, load_backend

METHODS = [name for name, value in vars(base.Backend).items() if inspect.isfunction(value) and not name.startswith("_")]
ATTRIBUTES = [name for name in base.Backend.__annotations__]


def test_the_contract_names_what_the_engine_calls():
    assert set(METHODS) == {"load", "encode_prompt", "compiles_first", "denoise", "decode"}
    assert set(ATTRIBUTES) == {"spec", "warm_worker", "applied"}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_fulfils_the_contract(name):
    backend = load_backend(name)
    assert isinstance(backend, base.Backend)
    assert backend.spec is BACKENDS[name] and backend.warm_worker is False and backend.applied == {}
    for method in METHODS:
        expected = list(inspect.signature(getattr(base.Backend, method)).parameters)
        assert list(inspect.signature(getattr(type(backend), method)).parameters) == expected, (name, method)
