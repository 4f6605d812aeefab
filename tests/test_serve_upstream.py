"""`j1 serve --engine upstream` against a scripted OpenAI-compatible upstream on 127.0.0.1.

The scripted upstream reads the judge prompt it receives and answers like a judge that knows the answer:
pairwise it picks the response containing "CORRECT" (and "A" when none or both do: a position-biased
judge), pointwise it gives 9 to a response containing "CORRECT" and 2 otherwise. So verdict values, the
both-orders mapping, agreement, the pointwise scores and the TRL reward are checked end to end through the
real j1 server process, and the passed-through OpenAI routes (streaming too) with the `openai` client.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from j1.client import JudgeClient, judge_reward
from j1.server.process import ServerProcess, free_port

UPSTREAM_KEY = "upstream-secret"
A_START, A_END = "[The Start of Assistant A's Answer]", "[The End of Assistant A's Answer]"
B_START, B_END = "[The Start of Assistant B's Answer]", "[The End of Assistant B's Answer]"
ONE_START, ONE_END = "[The Start of the Assistant's Answer]", "[The End of the Assistant's Answer]"


def between(text: str, start: str, end: str) -> str:
    return text[text.index(start) + len(start) : text.index(end)]


def scripted(prompt: str) -> str:
    if A_START in prompt:
        a, b = between(prompt, A_START, A_END), between(prompt, B_START, B_END)
        pick = "B" if "CORRECT" in b and "CORRECT" not in a else "A"
        if prompt.endswith("<answer>[["):  # the direct format's prefill: the verdict comes first
            return f"{pick}]]</answer>"
        return f"<think>Checking both answers.</think><answer>[[{pick}]]</answer>"
    if ONE_START in prompt:
        score = 9 if "CORRECT" in between(prompt, ONE_START, ONE_END) else 2
        return f"<think>Checking the answer.</think><score>{score}</score>"
    return "no judge prompt"


class Upstream:
    """A FastAPI app on a uvicorn thread: /v1/models, /v1/completions, /v1/chat/completions (+ stream)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        app = FastAPI()

        def denied(request: Request) -> JSONResponse | None:
            if request.headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
                return JSONResponse({"error": {"message": "bad upstream key"}}, 401)
            return None

        @app.get("/v1/models")
        async def models(request: Request) -> Any:
            return denied(request) or {"object": "list", "data": [{"id": "judge", "object": "model"}]}

        @app.post("/v1/completions")
        async def completions(request: Request) -> Any:
            body = await request.json()
            self.requests.append(("completions", body, dict(request.headers)))
            if refusal := denied(request):
                return refusal
            text = scripted(body["prompt"])
            choices = [{"index": i, "text": text, "finish_reason": "stop"} for i in range(body.get("n", 1))]
            if body.get("logprobs") and "]]" in text:  # the completions shape: 0.9 on the scripted pick
                head, pick = text.split("[[")[0], text.split("]]")[0][-1]
                other = {"A": "B", "B": "A"}[pick]
                opening = [head, "[["] if "[[" in text else []  # none after the direct format's prefill
                lp = {"tokens": [*opening, pick, "]]</answer>"],
                      "top_logprobs": [{t: 0.0} for t in opening] + [{pick: math.log(0.9), other: math.log(0.1)},
                                                                     {"]]</answer>": 0.0}]}  # fmt: skip
                choices = [c | {"logprobs": lp} for c in choices]
            if body.get("logprobs") and "<score>" in text:  # 0.8 on the scripted score, 0.2 on the other
                head, rest = text.split("<score>")
                value, other = rest.split("</score>")[0], "2" if "9" in rest else "9"
                lp = {"tokens": [head + "<score>", value, "</score>"],
                      "top_logprobs": [{head + "<score>": 0.0}, {value: math.log(0.8), other: math.log(0.2)},
                                       {"</score>": 0.0}]}  # fmt: skip
                choices = [c | {"logprobs": lp} for c in choices]
            usage = {"prompt_tokens": 100, "completion_tokens": 12 * len(choices)}
            return {
                "id": "x",
                "object": "text_completion",
                "model": body["model"],
                "choices": choices,
                "usage": usage,
            }

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(("chat", body, dict(request.headers)))
            if refusal := denied(request):
                return refusal
            words = ["scripted", " chat", " reply"]
            if body.get("stream"):

                async def events():
                    for w in words:
                        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}  # fmt: skip
                        yield f"data: {json.dumps(chunk)}\n\n"
                    yield "data: [DONE]\n\n"

                return StreamingResponse(events(), media_type="text/event-stream")
            message = {"role": "assistant", "content": "".join(words)}
            return {"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}  # fmt: skip

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def upstream():
    up = Upstream()
    yield up
    up.stop()


@pytest.fixture(scope="module")
def server(upstream: Upstream, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    env = {k: v for k, v in os.environ.items() if k != "J1_API_KEY"} | {"HF_HUB_OFFLINE": "1"}
    args = ["--judge", "judge", "--engine", "upstream", "--upstream", upstream.url, "--log-level", "warning",
            "--option", f"tokenizer={tiny_model_dir}", "--option", f"upstream_api_key={UPSTREAM_KEY}"]  # fmt: skip
    srv = ServerProcess(args, env=env, log_path=tmp_path_factory.mktemp("up") / "server.log").start()
    yield srv
    assert srv.stop() == 0, srv.log()


PROMPT = "What is 12 + 30?"
GOOD, BAD = "12 + 30 = 42. CORRECT", "12 + 30 = 32."


def test_verdicts_and_both_orders_mapping(server: ServerProcess, upstream: Upstream) -> None:
    with JudgeClient(server.url) as judge:  # no API key on this server: auth off
        r = judge.pairwise(PROMPT, GOOD, BAD, both_orders=True)
        assert r["verdict"] == "A" and r["agreement"] is True and r["parse_ok"] and r["parse_failures"] == 0
        assert [(o["order"], o["verdict"]) for o in r["orders"]] == [("ab", "A"), ("ba", "A")]
        assert r["reasoning"] == "Checking both answers."
        r = judge.pairwise(PROMPT, BAD, GOOD, both_orders=True)
        assert r["verdict"] == "B" and r["agreement"] is True
        r = judge.pairwise(PROMPT, BAD, "12 + 30 = 41.", both_orders=True)  # position bias: A, then A
        assert r["verdict"] == "tie" and r["agreement"] is False
        assert [o["verdict"] for o in r["orders"]] == ["A", "B"]
        r = judge.pairwise(PROMPT, BAD, GOOD, samples=3, temperature=1.0)
        assert r["verdict"] == "B" and r["orders"][0]["votes"] == {"B": 3} and r["agreement"] is None
        p = judge.pointwise(PROMPT, GOOD, samples=2, temperature=1.0)
        assert p["score"] == 9.0 and p["scores"] == [9.0, 9.0] and p["parse_ok"]
        assert judge.pointwise_batch([(PROMPT, GOOD), (PROMPT, BAD)])[1]["score"] == 2.0
    kind, body, headers = upstream.requests[-1]
    assert (
        kind == "completions" and body["model"] == "judge" and body["prompt"].startswith("<|im_start|>user\n")
    )
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_judge_reward_values(server: ServerProcess) -> None:
    reward = judge_reward(server.url, mode="pointwise")
    assert reward.__name__ == "judge_pointwise"
    assert reward([PROMPT, PROMPT], [GOOD, BAD]) == [0.9, 0.2]
    chat_prompts = [[{"role": "user", "content": PROMPT}]] * 3
    chat_completions = [[{"role": "assistant", "content": c}] for c in (GOOD, BAD, "41")]
    logged: list[tuple[str, float]] = []
    pairwise = judge_reward(server.url, mode="pairwise", reference_key="reference", batch_size=2)
    out = pairwise(chat_prompts, chat_completions, reference=[BAD, GOOD, "40"],
                   log_metric=lambda k, v: logged.append((k, v)))  # fmt: skip
    assert out == [1.0, 0.0, 0.5]  # wins, loses, and a position-biased tie
    assert logged == [("judge/parse_rate", 1.0)]
    with pytest.raises(Exception, match="dataset column 'reference'"):
        pairwise([PROMPT], [GOOD])


def test_soft_verdicts_from_the_upstreams_logprobs(server: ServerProcess, upstream: Upstream) -> None:
    with JudgeClient(server.url) as judge:
        r = judge.pairwise(PROMPT, GOOD, BAD, both_orders=True, soft=True)
        assert upstream.requests[-1][1]["logprobs"] == 5
        # ab: A at 0.9; ba shows GOOD as B, picked at 0.9, so the caller's P(A) is 0.9 there too
        assert [o["probability_a"] for o in r["orders"]] == pytest.approx([0.9, 0.9])
        assert r["probability_a"] == pytest.approx(0.9)
        assert judge.pairwise(PROMPT, GOOD, BAD)["probability_a"] is None  # soft is opt-in
    soft = judge_reward(server.url, mode="pairwise", reference_key="reference", soft=True)
    out = soft([PROMPT] * 3, [GOOD, BAD, "41"], reference=[BAD, GOOD, "40"])
    assert out == pytest.approx([0.9, 0.1, 0.5])  # the position-biased judge: 0.9 for A in each order


def test_direct_format_served_with_its_prefill(
    upstream: Upstream, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The judge that does not think, served: the rendered prompt ends with its prefill, the verdict is
    the first letter the model writes, and P(A) is read there."""
    env = {k: v for k, v in os.environ.items() if k != "J1_API_KEY"} | {"HF_HUB_OFFLINE": "1"}
    args = ["--judge", "judge", "--engine", "upstream", "--upstream", upstream.url, "--log-level", "warning",
            "--format", "pairwise_verdict_direct", "--option", f"tokenizer={tiny_model_dir}",
            "--option", f"upstream_api_key={UPSTREAM_KEY}"]  # fmt: skip
    srv = ServerProcess(args, env=env, log_path=tmp_path / "server.log").start()
    try:
        with JudgeClient(srv.url) as judge:
            r = judge.pairwise(PROMPT, BAD, GOOD, both_orders=True, soft=True)
            assert upstream.requests[-1][1]["prompt"].endswith("<answer>[[")
            assert (
                r["verdict"] == "B" and r["parse_failures"] == 0 and r["format"] == "pairwise_verdict_direct"
            )
            assert r["probability_a"] == pytest.approx(0.1)
    finally:
        assert srv.stop() == 0, srv.log()


def test_expected_scores_from_the_upstreams_logprobs(server: ServerProcess, upstream: Upstream) -> None:
    with JudgeClient(server.url) as judge:
        r = judge.pointwise(PROMPT, GOOD, soft=True)
        assert upstream.requests[-1][1]["logprobs"] == 5
        assert r["score"] == 9 and r["expected_score"] == pytest.approx(9 * 0.8 + 2 * 0.2)
        assert judge.pointwise(PROMPT, GOOD)["expected_score"] is None  # soft is opt-in
    soft = judge_reward(server.url, mode="pointwise", soft=True)
    assert soft([PROMPT] * 2, [GOOD, BAD]) == pytest.approx([0.76, 0.34])


def test_passthrough_with_the_openai_client(server: ServerProcess, upstream: Upstream) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="caller-key-not-forwarded", max_retries=0)
    assert [m.id for m in client.models.list()] == ["judge"]
    chat = client.chat.completions.create(model="judge", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "scripted chat reply"
    assert upstream.requests[-1][2]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    stream = client.chat.completions.create(
        model="judge", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "scripted chat reply"
    comp = client.completions.create(model="judge", prompt=f"{ONE_START}CORRECT{ONE_END}", max_tokens=8)
    assert comp.choices[0].text.endswith("<score>9</score>")


def test_concurrent_upstream_requests(server: ServerProcess) -> None:
    async def burst() -> list[dict]:
        async with JudgeClient(server.url) as judge:
            return await asyncio.gather(
                *(judge.apairwise(PROMPT, GOOD, BAD, both_orders=True) for _ in range(32))
            )

    assert [r["verdict"] for r in asyncio.run(burst())] == ["A"] * 32
    text = httpx.get(f"{server.url}/metrics").text
    assert re.search(
        r'j1_requests_total\{method="POST",route="/v1/judge/pairwise",status="200"\} (\d+)', text
    )


def test_upstream_down_is_503_and_unhealthy(tiny_model_dir: Path, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    args = ["--judge", "judge", "--engine", "upstream", "--upstream", dead, "--option", "max_retries=1",
            "--option", f"tokenizer={tiny_model_dir}"]  # fmt: skip
    with ServerProcess(args, log_path=tmp_path / "server.log", require_healthy=False) as srv:
        h = httpx.get(f"{srv.url}/healthz")
        assert h.status_code == 503 and "unreachable" in h.json()["reason"]
        r = httpx.post(
            f"{srv.url}/v1/judge/pairwise", json={"prompt": PROMPT, "response_a": GOOD, "response_b": BAD}
        )
        assert r.status_code == 503 and "cannot connect" in r.json()["error"]["message"]
        assert httpx.get(f"{srv.url}/v1/models").status_code == 502


def test_group_reward_through_the_served_judge(server: ServerProcess) -> None:
    """j1.group's TRL reward with the served judge: GOOD beats both; BAD vs 41 is a position-biased tie."""
    from j1.group import client_judge, group_reward

    with JudgeClient(server.url) as client:
        reward = group_reward(client_judge(client), schedule="round_robin")
        logged: dict[str, float] = {}
        out = reward([PROMPT] * 3, [GOOD, BAD, "12 + 30 = 41."], log_metric=logged.__setitem__)
    assert out == [1.0, 0.25, 0.25] and logged["judge/calls_per_rollout"] == 2.0
    assert logged["judge/parse_failure_rate"] == 0.0


def get_reward(url: str, queries: list[str], prompts: list[str] | None, **extra: Any) -> httpx.Response:
    return httpx.post(f"{url}/get_reward", json={"query": queries, "prompts": prompts, **extra}, timeout=60)


def test_openrlhf_get_reward_pointwise(server: ServerProcess) -> None:
    """OpenRLHF's remote RM contract: query = prompt + response, one float reward per query."""
    chat = "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n"
    r = get_reward(server.url, [chat + GOOD, chat + BAD], [chat, chat], labels=["42", "42"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rewards"] == [0.9, 0.2] and body["scores"] == body["rewards"]
    assert body["extra_logs"]["judge_unscored_rate"] == [0.0, 0.0]
    r = get_reward(server.url, [chat + GOOD], None)
    assert r.status_code == 422 and "needs `prompts`" in r.json()["error"]["message"]
    r = get_reward(server.url, ["something else"], [chat])
    assert r.status_code == 422 and "query 0 does not start with its prompt" in r.json()["error"]["message"]


@pytest.mark.parametrize("mode", ["round_robin", "anchor"])
def test_openrlhf_get_reward_group_modes(
    upstream: Upstream, tiny_model_dir: Path, tmp_path: Path, mode: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "J1_API_KEY"} | {"HF_HUB_OFFLINE": "1"}
    args = ["--judge", "judge", "--engine", "upstream", "--upstream", upstream.url, "--log-level", "warning",
            "--option", f"tokenizer={tiny_model_dir}", "--option", f"upstream_api_key={UPSTREAM_KEY}",
            "--reward-mode", mode]  # fmt: skip
    with ServerProcess(args, env=env, log_path=tmp_path / "server.log") as srv:
        other = "Say hi."
        queries = [
            PROMPT + GOOD,
            PROMPT + BAD,
            PROMPT + "12 + 30 = 41.",
            other + "hi CORRECT",
            other + "hello",
        ]
        prompts = [PROMPT] * 3 + [other] * 2
        labels = [BAD, GOOD, "12 + 30 = 40.", "hey", "hey CORRECT"]
        body = get_reward(srv.url, queries, prompts, labels=labels).json()
        if mode == "round_robin":  # two groups, each response against the others of its prompt
            assert body["rewards"] == [1.0, 0.25, 0.25, 1.0, 0.0]
            assert body["extra_logs"]["judge_calls"][0] == 2 * (3 + 1)
        else:  # each response against its own label
            assert body["rewards"] == [1.0, 0.0, 0.5, 1.0, 0.0]
        assert body["extra_logs"]["judge_parse_failure_rate"][0] == 0.0


def test_verl_reward_functions_as_verl_calls_them(server: ServerProcess) -> None:
    """verl's documented call shapes: the naive manager passes one row by keyword, the batch manager lists
    (verl does not install here; its contract is taken from its reward managers' calls)."""
    from j1 import J1Error
    from j1.verl_reward import compute_score, compute_score_batch

    info = {"question": PROMPT, "index": 0}
    kw = {"base_url": server.url}
    assert (
        compute_score(data_source="math", solution_str=GOOD, ground_truth="42", extra_info=info, **kw) == 0.9
    )
    assert (
        compute_score(
            data_source="math", solution_str=BAD, ground_truth=GOOD, extra_info=info, mode="anchor", **kw
        )
        == 0.0
    )
    out = compute_score_batch(
        data_sources=["math"] * 4, solution_strs=[GOOD, BAD, "12 + 30 = 41.", "hi CORRECT"],
        ground_truths=["42"] * 4, extra_infos=[info, info, info, {"prompt": "Say hi."}], **kw,
    )  # fmt: skip
    assert out == [1.0, 0.25, 0.25, 0.5]  # a group of one has no comparison: the fallback
    with pytest.raises(J1Error, match="row 1's extra_info has no 'question'"):
        compute_score_batch(["m", "m"], [GOOD, BAD], ["42", "42"], [info, {}], **kw)
