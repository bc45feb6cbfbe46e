"""The Fieldline server: a Litestar app around the sync protocol and the sales domain."""

__version__ = "0.1.0"

__all__ = ["__version__"]
