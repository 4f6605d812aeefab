"""Pieces of `j1 serve` without a server: verdict aggregation, the client's retries, TRL input shapes."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from j1 import J1Error
from j1.client import JudgeAPIError, JudgeClient, as_text, judge_reward
from j1.formats import Judgment
from j1.server.config import ServeConfig
from j1.server.judge import combine, majority, summarize, swapped


def J(verdict: str | None, **scores: float) -> Judgment:
    return Judgment(parse_ok=verdict is not None or bool(scores), verdict=verdict, scores=scores,
                    reasoning=f"r-{verdict}", error=None if verdict or scores else "no <answer>")  # fmt: skip


def test_majority_and_split_votes() -> None:
    assert majority(Counter()) is None
    assert majority(Counter({"A": 2, "B": 1})) == "A"
    assert majority(Counter({"A": 1, "B": 1})) == "tie"
    assert majority(Counter({"tie": 2, "A": 1})) == "tie"


def test_swapped_maps_back_to_the_callers_positions() -> None:
    s = swapped(J("A", A=7.0, B=3.0))
    assert s.verdict == "B" and s.scores == {"B": 7.0, "A": 3.0}
    assert swapped(J("tie")).verdict == "tie" and swapped(J(None)).verdict is None


def test_summarize_counts_parses_and_failures() -> None:
    out = summarize("ab", [J("A"), J(None), J("A"), J("B")], raw=["1", "2", "3", "4"])
    assert out["verdict"] == "A" and out["votes"] == {"A": 2, "B": 1}
    assert out["parsed"] == 3 and out["samples"] == 4 and out["errors"] == ["no <answer>"]
    assert out["reasoning"] == "r-A" and out["raw"] == ["1", "2", "3", "4"]
    none = summarize("ba", [J(None), J(None)], raw=None)
    assert none["verdict"] is None and none["parsed"] == 0 and "raw" not in none
    scored = summarize("ab", [J("A", A=8.0, B=2.0), J("A", A=6.0, B=4.0)], raw=None)
    assert scored["scores"] == {"A": 7.0, "B": 3.0}


@pytest.mark.parametrize(
    ("ab", "ba", "verdict", "agreement"),
    [("A", "A", "A", True), ("B", "B", "B", True), ("A", "B", "tie", False), ("tie", "A", "tie", False),
     ("tie", "tie", "tie", True), ("A", None, None, None), (None, None, None, None)],
)  # fmt: skip
def test_combine_both_orders(
    ab: str | None, ba: str | None, verdict: str | None, agreement: bool | None
) -> None:
    assert combine([{"verdict": ab}, {"verdict": ba}]) == (verdict, agreement)
    assert combine([{"verdict": ab}]) == (ab, None)


def test_config_checks() -> None:
    ServeConfig().check()
    for bad, words in [
        (dict(engine="tgi"), "unknown engine 'tgi'"),
        (dict(engine="upstream"), "needs an upstream URL"),
        (dict(engine="hf", upstream="http://x/v1"), "only used by engine 'upstream'"),
        (dict(pointwise_format="pairwise_verdict"), "not a pointwise format"),
        (dict(queue_size=0), "queue_size must be > 0"),
        (dict(max_tokens=8000), "exceeds max_tokens_limit"),
        (dict(api_key=" "), "api_key is empty"),
    ]:
        with pytest.raises(J1Error, match=words):
            ServeConfig(**bad).check()


def test_engine_auto() -> None:
    assert ServeConfig().engine == "vllm"
    assert ServeConfig(upstream="http://gpu:8000/v1").engine == "upstream"
    assert ServeConfig(engine="hf").engine == "hf"


def test_api_key_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("J1_API_KEY", "from-env")
    assert ServeConfig().api_key == "from-env"
    monkeypatch.delenv("J1_API_KEY")
    assert ServeConfig().api_key is None


def client_with(handler, **kw) -> JudgeClient:
    c = JudgeClient("http://judge.invalid", backoff=0.0, **kw)
    c._client = httpx.Client(base_url=c.base_url, transport=httpx.MockTransport(handler), headers=c.headers)
    return c


def test_client_retries_429_and_5xx_then_succeeds() -> None:
    statuses = iter([503, 429, 502, 200])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = next(statuses)
        headers = {"Retry-After": "0"} if status == 429 else {}
        body = {"score": 5.0} if status == 200 else {"error": {"message": "busy"}}
        return httpx.Response(status, json=body, headers=headers)

    assert client_with(handler, api_key="k").pointwise("q", "r")["score"] == 5.0
    assert len(seen) == 4 and seen[0].headers["authorization"] == "Bearer k"
    assert seen[0].url.path == "/v1/judge/pointwise"


def test_client_gives_up_and_does_not_retry_4xx() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503 if len(calls) < 10 else 200, json={"error": {"message": "engine down"}})

    with pytest.raises(JudgeAPIError, match="HTTP 503: engine down"):
        client_with(handler, max_retries=2).pairwise("q", "a", "b")
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(JudgeAPIError) as e:
        client_with(
            lambda r: (calls.append(1), httpx.Response(422, json={"error": {"message": "bad"}}))[1]
        ).pairwise("q", "a", "b")
    assert e.value.status == 422 and len(calls) == 1


def test_client_connection_errors_are_retried_then_clear() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(J1Error, match="cannot reach the judge"):
        client_with(handler, max_retries=1).pointwise("q", "r")


def test_as_text_takes_strings_and_messages() -> None:
    assert as_text("plain") == "plain"
    assert as_text([{"role": "user", "content": "hi"}]) == "hi"
    assert as_text([{"role": "assistant", "content": "done"}], ("assistant",)) == "done"
    conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert as_text(conv, ("system", "user")) == "System: Be brief.\n\nUser: hi"
    with pytest.raises(J1Error, match="chat messages"):
        as_text(42)


def test_judge_reward_maps_verdicts_and_none() -> None:
    class Stub:
        def pairwise_batch(self, items, **opts):
            assert opts["both_orders"] is True
            return [{"verdict": v} for v in ("A", "B", "tie", None)[: len(items)]]

        def pointwise_batch(self, items, **opts):
            return [{"score": s} for s in (10.0, None)[: len(items)]]

    pair = judge_reward(mode="pairwise", reference_key="ref", client=Stub(), tie=0.25)  # type: ignore[arg-type]
    assert pair(["p"] * 4, ["c"] * 4, ref=["r"] * 4) == [1.0, 0.0, 0.25, None]
    point = judge_reward(mode="pointwise", client=Stub(), normalize=False)  # type: ignore[arg-type]
    assert point(["p", "p"], ["c", "d"]) == [10.0, None]
    with pytest.raises(J1Error, match="mode must be"):
        judge_reward(mode="listwise")


def test_the_port_is_held_from_start_up_and_never_by_a_forked_child() -> None:
    """`j1 serve` binds its port before the engine starts (minutes in which vLLM opens ports of its own) and
    uvicorn listens on that socket later. A child forked meanwhile (vLLM's engine core) closes its copy:
    were it kept, the child would hold the listening port after the server exits, refusing a restart."""
    import multiprocessing
    import socket
    import time

    from j1.server.app import bind_port
    from j1.server.process import free_port

    port = free_port()
    sock = bind_port("127.0.0.1", port)
    sock.listen()
    with pytest.raises(J1Error, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
        bind_port("127.0.0.1", port)
    ctx = multiprocessing.get_context("fork")
    running = ctx.Event()

    def engine_core() -> None:
        running.set()
        time.sleep(60)

    child = ctx.Process(target=engine_core, daemon=True)
    child.start()
    try:
        assert running.wait(30)
        sock.close()  # the server exits while its forked child lives on
        again = socket.socket()
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()
        again.close()
    finally:
        child.kill()
        child.join(10)
