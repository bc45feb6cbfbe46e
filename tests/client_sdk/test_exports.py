from __future__ import annotations

import importlib
import pkgutil

import pytest

import client_sdk


def test_the_package_exports_exactly_its_public_surface() -> None:
    # The package imports its names on first use (so `fieldline rep` starts fast): use them all.
    for name in client_sdk.__all__:
        getattr(client_sdk, name)
    public = {name for name in vars(client_sdk) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(client_sdk.__path__)}
    assert set(client_sdk.__all__) == public - modules | {"errors"}
    assert {"FieldClient", "AsyncFieldClient", "SyncReport", "errors"} <= set(client_sdk.__all__)
    assert set(client_sdk.__all__) <= set(dir(client_sdk))
    with pytest.raises(AttributeError):
        client_sdk.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_every_name_each_module_lists_exists() -> None:
    for info in pkgutil.iter_modules(client_sdk.__path__):
        module = importlib.import_module(f"client_sdk.{info.name}")
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"client_sdk.{info.name} lists {name} but lacks it"
