from __future__ import annotations

import importlib
import pkgutil

import client_sdk


def test_the_package_exports_exactly_its_public_surface() -> None:
    public = {name for name in vars(client_sdk) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(client_sdk.__path__)}
    assert set(client_sdk.__all__) == public - modules | {"errors"}
    assert {"FieldClient", "AsyncFieldClient", "SyncReport", "errors"} <= set(client_sdk.__all__)


def test_every_name_each_module_lists_exists() -> None:
    for info in pkgutil.iter_modules(client_sdk.__path__):
        module = importlib.import_module(f"client_sdk.{info.name}")
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"client_sdk.{info.name} lists {name} but lacks it"
