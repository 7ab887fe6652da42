"""The test harness's own promises: a missing ../shared is a failure under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_dir


def test_a_missing_shared_checkout_fails_under_ci(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="under CI=true that is a failure"):
        require_dir(tmp_path / "absent", "the reference corpus", in_ci=True)


def test_a_missing_shared_checkout_skips_on_a_developer_machine(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="is not laid beside this checkout"):
        require_dir(tmp_path / "absent", "the reference corpus", in_ci=False)


def test_a_present_directory_is_returned(tmp_path: Path) -> None:
    assert require_dir(tmp_path, "anything", in_ci=True) == tmp_path
