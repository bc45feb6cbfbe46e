"""The resource tests' seeded world and app, one per module and store."""

from tests.server.resources.conftest import env

__all__ = ["env"]
