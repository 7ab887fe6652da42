"""The rollout split: the Python function and the browser snippet must agree for every user."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import quickjs

from sidecar.decision.rollout import bucket, in_rollout

SNIPPET = Path(__file__).resolve().parents[2] / "examples" / "rollout" / "sgtm-rollout.js"


@pytest.fixture(scope="module")
def js() -> quickjs.Context:
    ctx = quickjs.Context()
    ctx.eval(SNIPPET.read_text(encoding="utf-8"))
    return ctx


def _js_buckets(ctx: quickjs.Context, ids: list[str], destination: str) -> list[int]:
    # Pass data as JSON text: quickjs converts only primitives across the boundary.
    script = (
        f"JSON.stringify(JSON.parse({json.dumps(json.dumps(ids))})"
        f".map(function (id) {{ return sgtmRollout.bucket(id, {json.dumps(destination)}); }}))"
    )
    return json.loads(ctx.eval(script))


def _ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    ids = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.7:  # GA-style client ids, the common case
            rand, ts = rng.randrange(10**9, 10**10), rng.randrange(1_600_000_000, 1_800_000_000)
            ids.append(f"{rand}.{ts}")
        elif kind < 0.9:  # opaque ids from other CMPs or shops
            length = rng.randrange(0, 40)
            ids.append("".join(rng.choice("abcdef0123456789-") for _ in range(length)))
        else:  # non-ASCII, including characters outside the BMP (surrogate pairs in JS)
            chars = [0xE9, 0x4E2D, 0x1F600, 0x10348, 0x41]
            ids.append("".join(chr(rng.choice(chars)) for _ in range(5)))
    return ids


@pytest.mark.parametrize("destination", ["ga4", "meta", "google_ads", "tiktok"])
def test_browser_snippet_computes_the_same_bucket_as_the_sidecar(js, destination):
    ids = _ids(5000, seed=hash(destination) & 0xFFFF)
    assert _js_buckets(js, ids, destination) == [bucket(i, destination) for i in ids]


def test_lone_surrogates_are_encoded_alike_on_both_sides(js):
    # A JS string can hold an unpaired surrogate; Python sees it through surrogatepass.
    js_value = js.eval("sgtmRollout.bucket('ab' + String.fromCharCode(0xD83D) + 'c', 'meta')")
    assert int(js_value) == bucket("ab\ud83dc", "meta")


def test_browser_fires_exactly_for_the_users_the_server_does_not_send_for(js):
    ids = _ids(2000, seed=7)
    for percent in (0, 10, 50, 100):
        script = (
            f"JSON.stringify(JSON.parse({json.dumps(json.dumps(ids))}).map(function (id) {{"
            f" return sgtmRollout.browserFires(id, 'ga4', {percent}); }}))"
        )
        browser = json.loads(js.eval(script))
        server = [in_rollout(i, "ga4", percent) for i in ids]
        assert [b != s for b, s in zip(browser, server, strict=True)] == [True] * len(ids)


def test_known_vector_pins_the_formula():
    # Computed by hand from the documented formula; a change here breaks every deployed snippet.
    key = b"meta:1234567890.1732860000"
    h = 0x811C9DC5
    for byte in key:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    assert bucket("1234567890.1732860000", "meta") == h % 100


def test_buckets_are_uniform_enough_for_percentages():
    # distinct ids only: repeats pile into one bucket and measure the sample, not the hash
    ids = sorted(set(_ids(20000, seed=11)))
    counts = [0] * 100
    for i in ids:
        counts[bucket(i, "ga4")] += 1
    expected = len(ids) / 100
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    # 99 degrees of freedom: the 99.9th percentile is about 148.
    assert chi2 < 148, chi2
    share_10 = sum(in_rollout(i, "ga4", 10) for i in ids) / len(ids)
    assert 0.09 < share_10 < 0.11


def test_split_is_monotonic_and_differs_per_destination():
    ids = _ids(3000, seed=3)
    for i in ids:
        inside = [in_rollout(i, "meta", p) for p in range(101)]
        # once in, always in as the percentage grows
        assert inside == sorted(inside)
        assert inside[0] is False and inside[100] is True
    same = sum(bucket(i, "meta") == bucket(i, "ga4") for i in ids)
    assert same < len(ids) * 0.05


@pytest.mark.parametrize(
    ("client_id", "destination", "percent", "error"),
    [
        ("1.2", "meta", 101, ValueError),
        ("1.2", "meta", -1, ValueError),
        ("1.2", "meta", True, TypeError),
        ("1.2", "meta", 10.5, TypeError),
        (None, "meta", 10, TypeError),
        ("1.2", "", 10, ValueError),
    ],
)
def test_bad_arguments_are_refused(client_id, destination, percent, error):
    with pytest.raises(error):
        in_rollout(client_id, destination, percent)
