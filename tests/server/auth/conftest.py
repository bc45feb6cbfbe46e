from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.resources.world import cheap_argon2


@pytest.fixture(autouse=True)
def _cheap_argon2() -> Iterator[None]:
    with cheap_argon2():
        yield
