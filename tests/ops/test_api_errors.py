"""Retry classification, Retry-After, and credential problems reported without tracebacks."""

from __future__ import annotations

import json

import httplib2
import pytest
from googleapiclient.errors import HttpError

from ops.tagmanager import Api, ApiError, RetryPolicy
from sgtm.cli import main


class Once:
    """A request whose execute() fails with the given HTTP answers, then succeeds."""

    def __init__(self, *answers: tuple[dict, dict]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def execute(self, num_retries: int = 0) -> dict:
        self.calls += 1
        if self.answers:
            headers, body = self.answers.pop(0)
            raise HttpError(httplib2.Response(headers), json.dumps(body).encode())
        return {"ok": True}


def api(sleeps: list[float]) -> Api:
    return Api(service=None, qps=1000, policy=RetryPolicy(max_attempts=3), sleep=sleeps.append)


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    sleeps: list[float] = []
    request = Once(({"status": "429", "retry-after": "30"}, {"error": {"message": "slow down"}}))
    assert api(sleeps).call(request, "list tags") == {"ok": True}
    assert 30.0 in sleeps


def test_user_rate_limit_403_is_retried_and_gives_up_after_the_attempt_cap():
    sleeps: list[float] = []
    body = {"error": {"message": "quota", "errors": [{"reason": "userRateLimitExceeded"}]}}
    request = Once(*[({"status": "403"}, body)] * 3)
    with pytest.raises(ApiError) as info:
        api(sleeps).call(request, "create tag 'x'")
    assert request.calls == 3
    assert "create tag 'x'" in str(info.value) and "gave up after 3 attempts" in str(info.value)


def test_a_400_is_not_retried():
    sleeps: list[float] = []
    request = Once(({"status": "400"}, {"error": {"message": "Invalid parameter"}}))
    with pytest.raises(ApiError) as info:
        api(sleeps).call(request, "update tag 'x'")
    assert request.calls == 1
    assert str(info.value) == "update tag 'x': HTTP 400: Invalid parameter"


def test_missing_or_broken_key_files_are_reported(tmp_path, capsys):
    export = tmp_path / "c.json"
    export.write_text(json.dumps({"exportFormatVersion": 2, "containerVersion": {}}))
    base = ["push", str(export), "--account", "1", "--container", "2"]
    assert main([*base, "--key-file", str(tmp_path / "missing.json")]) == 1
    assert "missing.json: key file not found" in capsys.readouterr().err
    broken = tmp_path / "key.json"
    broken.write_text('{"type": "service_account"}')
    assert main([*base, "--key-file", str(broken)]) == 1
    assert "key.json: not a service-account key" in capsys.readouterr().err


def test_no_application_default_credentials_is_reported(tmp_path, capsys, monkeypatch):
    # Pointing ADC at a missing file makes google.auth fail at once, without probing the
    # metadata server (tests reach only 127.0.0.1).
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nope.json"))
    monkeypatch.delenv("SGTM_TAGMANAGER_ENDPOINT", raising=False)
    export = tmp_path / "c.json"
    export.write_text(json.dumps({"exportFormatVersion": 2, "containerVersion": {}}))
    assert main(["push", str(export), "--account", "1", "--container", "2"]) == 1
    assert "no Google credentials found" in capsys.readouterr().err
