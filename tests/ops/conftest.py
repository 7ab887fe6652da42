from __future__ import annotations

import pytest

from tests.ops.fake_tagmanager import FakeTagManager


@pytest.fixture
def fake_tm(httpserver) -> FakeTagManager:
    fake = FakeTagManager()
    fake.endpoint = fake.serve(httpserver)
    return fake
