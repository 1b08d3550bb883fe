"""Payload nesting limits: counted without recursion, whatever the input."""

from __future__ import annotations

import pytest

from orchestrator import InvalidPayload
from orchestrator.jobs.dispatch import build_job
from orchestrator.jobs.payloads import MAX_PAYLOAD_DEPTH, nesting_depth, too_deep


def _nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [1, 2, MAX_PAYLOAD_DEPTH])
def test_depth_counts_containers(levels: int) -> None:
    assert nesting_depth(_nested(levels)) == levels
    assert too_deep(_nested(levels)) is None


def test_lists_and_scalars_count_as_they_nest() -> None:
    assert nesting_depth("text") == 0
    assert nesting_depth({"a": [1, {"b": [2]}]}) == 4


def test_a_payload_deeper_than_any_recursion_limit_is_measured_and_refused() -> None:
    deep = _nested(100_000)

    assert nesting_depth(deep) == MAX_PAYLOAD_DEPTH + 1  # stops just past the limit
    assert "nested more than 64 levels deep" in (too_deep(deep) or "")
    with pytest.raises(InvalidPayload, match="nested more than 64"):
        build_job("test-echo", {"deep": deep})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_a_payload_holding_nan_or_infinity_is_refused(number: float) -> None:
    with pytest.raises(InvalidPayload, match="not JSON-serializable"):
        build_job("test-echo", {"x": number})


@pytest.mark.parametrize(
    "payload", [{"path": "/m/\ud800"}, {"\udfff": 1}, {"files": ["ok", "\udc00 alone"]}]
)
def test_half_a_surrogate_pair_anywhere_is_refused(payload: dict) -> None:
    with pytest.raises(InvalidPayload, match="surrogate"):
        build_job("test-echo", payload)


def test_whole_characters_beyond_the_basic_plane_are_kept() -> None:
    assert build_job("test-echo", {"title": "\U0001f3ac Clip"}).payload == {
        "title": "\U0001f3ac Clip"
    }
