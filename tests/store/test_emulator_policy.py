"""A missing emulator skips locally and fails under CI=true (the issue's rule)."""

from __future__ import annotations

import pytest

from tests import conftest_emulators


def test_missing_emulator_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match="CI=true: the pubsub emulator is not installed"
    ):
        conftest_emulators._missing("pubsub")


def test_missing_emulator_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="gcloud components install"):
        conftest_emulators._missing("cloud-firestore")


def test_no_gcloud_on_path_means_missing(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(conftest_emulators, "_sdk_root", lambda: None)
    monkeypatch.setattr(conftest_emulators, "_RUNNING", {})
    with pytest.raises(pytest.fail.Exception, match="cloud-firestore emulator is not installed"):
        conftest_emulators.emulator("firestore")
