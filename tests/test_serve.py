"""`j1 serve` as a real server process on 127.0.0.1 (the `hf` engine on the tiny model built in code).

The tiny model writes random text, so its verdicts are almost always null: these tests check status codes,
shapes, parse accounting, limits, auth, batching and shutdown; verdict values and the both-orders mapping
are checked end to end in test_serve_upstream.py against a scripted upstream.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from j1.client import JudgeAPIError, JudgeClient, judge_reward
from j1.server.process import ServerProcess, free_port

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
PAIR = {"prompt": "What is 12 + 30?", "response_a": "12 + 30 = 42.", "response_b": "12 + 30 = 32."}
POINT = {"prompt": "What is 12 + 30?", "response": "12 + 30 = 42."}
SHORT = {"max_tokens": 8}


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "J1_API_KEY"}
    return e | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def start(model: Path, tmp: Path, *args: str) -> ServerProcess:
    base = ["--judge", str(model), "--engine", "hf", "--served-model-name", "tiny", "--log-level", "warning"]
    return ServerProcess(
        base + list(args), env=env(), log_path=tmp / "server.log", startup_timeout=180
    ).start()


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = start(
        tiny_model_dir,
        tmp_path_factory.mktemp("serve"),
        "--api-key", KEY, "--max-field-chars", "2000", "--max-body-bytes", "20000", "--max-batch-items", "8",
        "--max-samples", "4", "--max-tokens", "16", "--option", "batch_wait_ms=20",
    )  # fmt: skip
    yield srv
    assert srv.stop() == 0, srv.log()


def post(
    server: ServerProcess, path: str, body: Any, headers: dict | None = None, **kw: Any
) -> httpx.Response:
    return httpx.post(
        f"{server.url}{path}", json=body, headers=AUTH if headers is None else headers, timeout=60, **kw
    )


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total


def healthy(server: ServerProcess) -> bool:
    r = httpx.get(f"{server.url}/healthz", timeout=10)
    return r.status_code == 200 and r.json()["status"] == "ok"


# -- endpoints -------------------------------------------------------------------------------------


def test_health_docs_and_metrics_are_open(server: ServerProcess) -> None:
    h = httpx.get(f"{server.url}/healthz").json()
    assert h["status"] == "ok" and h["engine"] == "hf" and h["model"] == "tiny"
    assert h["format"] == "pairwise_verdict" and h["queue"]["capacity"] == 256
    assert httpx.get(f"{server.url}/docs").status_code == 200
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for p in ("/v1/judge/pairwise", "/v1/judge/pointwise", "/v1/judge/pairwise/batch", "/v1/judge/pointwise/batch",
              "/v1/chat/completions", "/v1/completions", "/v1/models", "/healthz", "/metrics"):  # fmt: skip
        assert p in paths
    r = httpx.get(f"{server.url}/metrics")
    assert r.status_code == 200 and "j1_requests_total" in r.text


def test_pairwise(server: ServerProcess) -> None:
    r = post(server, "/v1/judge/pairwise", PAIR | SHORT)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["verdict"] in (None, "A", "B", "tie") and out["parse_ok"] == (out["verdict"] is not None)
    assert out["agreement"] is None and len(out["orders"]) == 1 and out["orders"][0]["order"] == "ab"
    assert out["parsed"] + out["parse_failures"] == 1
    assert out["format"] == "pairwise_verdict" and out["model"] == "tiny"
    assert out["usage"]["prompt_tokens"] > 50 and 1 <= out["usage"]["completion_tokens"] <= 8
    assert out["orders"][0]["raw"] is None


def test_pairwise_both_orders_and_samples(server: ServerProcess) -> None:
    before = metric(server, "j1_judge_samples_total", endpoint="pairwise")
    failures = metric(server, "j1_parse_failures_total", endpoint="pairwise")
    body = PAIR | SHORT | {"both_orders": True, "samples": 3, "temperature": 1.0, "include_raw": True}
    out = post(server, "/v1/judge/pairwise", body).json()
    assert [o["order"] for o in out["orders"]] == ["ab", "ba"]
    for o in out["orders"]:
        assert o["samples"] == 3 and len(o["raw"]) == 3 and o["parsed"] + len(o["errors"]) == 3
    assert out["parsed"] + out["parse_failures"] == 6
    if out["verdict"] is None:
        assert out["agreement"] is None
    assert metric(server, "j1_judge_samples_total", endpoint="pairwise") - before == 6
    assert metric(server, "j1_parse_failures_total", endpoint="pairwise") - failures == out["parse_failures"]


def test_pointwise_and_batches(server: ServerProcess) -> None:
    out = post(server, "/v1/judge/pointwise", POINT | SHORT | {"samples": 2, "temperature": 1.0}).json()
    assert len(out["scores"]) == 2 and out["parsed"] + out["parse_failures"] == 2
    assert out["format"] == "pointwise" and (out["score"] is None) == (out["parsed"] == 0)
    items = [PAIR, PAIR | {"response_a": "I do not know."}, PAIR | {"prompt": "Say hi."}]
    r = post(server, "/v1/judge/pairwise/batch", {"items": items, "both_orders": True} | SHORT)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 3 and all(len(x["orders"]) == 2 for x in results)
    r = post(server, "/v1/judge/pointwise/batch", {"items": [POINT] * 4} | SHORT)
    assert r.status_code == 200 and len(r.json()["results"]) == 4


def test_attacked_inputs_are_answered_like_any_other(server: ServerProcess) -> None:
    """Every attack family (#22) on the wrong response: 200 with a verdict field, in both orders."""
    from j1.attacks import ATTACKS, POSITIONAL, attack

    wrong = PAIR["response_b"]
    attacked = [attack(f, wrong, target="A" if f in POSITIONAL else None) for f in ATTACKS]
    r = post(server, "/v1/judge/pairwise/batch", {"items": [PAIR | {"response_b": a} for a in attacked],
                                                  "both_orders": True} | SHORT)  # fmt: skip
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(ATTACKS) and all("verdict" in x and len(x["orders"]) == 2 for x in results)
    r = post(
        server, "/v1/judge/pointwise/batch", {"items": [POINT | {"response": a} for a in attacked]} | SHORT
    )
    assert r.status_code == 200 and len(r.json()["results"]) == len(ATTACKS)
    assert healthy(server)


def test_prompt_too_long_for_the_context_is_422(server: ServerProcess) -> None:
    r = post(server, "/v1/judge/pairwise", PAIR | {"max_tokens": 2000})  # + ~400 prompt tokens > 2048
    assert r.status_code == 422, r.text
    assert "exceeds the judge's context of 2048 tokens" in r.json()["error"]["message"]
    assert (
        post(server, "/v1/judge/pairwise", PAIR | {"max_tokens": 4097}).status_code == 422
    )  # over the limit


# -- auth --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/judge/pairwise", PAIR),
        ("POST", "/v1/judge/pointwise/batch", {"items": [POINT]}),
        ("GET", "/v1/models", None),
        ("POST", "/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}),
    ],
)
def test_api_key_required(server: ServerProcess, headers: dict, method: str, path: str, body: Any) -> None:
    r = httpx.request(method, f"{server.url}{path}", json=body, headers=headers, timeout=30)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer" and "API key" in r.json()["error"]["message"]


# -- bad input ---------------------------------------------------------------------------------------


def _raw(server: ServerProcess, content: bytes, **headers: str) -> httpx.Response:
    h = AUTH | {"Content-Type": "application/json"} | headers
    return httpx.post(f"{server.url}/v1/judge/pairwise", content=content, headers=h, timeout=30)


BAD = {
    "malformed json": (b'{"prompt": "x", "response_a": ', 422, "JSON"),
    "not an object": (b'["x", "y"]', 422, "valid dictionary"),
    "unknown field": (json.dumps(PAIR | {"verdict": "A"}).encode(), 422, "body.verdict: Extra inputs"),
    "missing field": (json.dumps({"prompt": "x", "response_a": "y"}).encode(), 422, "body.response_b: Field required"),
    "wrong type": (json.dumps(PAIR | {"samples": "2"}).encode(), 422, "body.samples"),
    "too many samples": (json.dumps(PAIR | {"samples": 5}).encode(), 422, "less than or equal to 4"),
    "greedy samples": (json.dumps(PAIR | {"samples": 2, "temperature": 0}).encode(), 422, "temperature > 0"),
    "empty prompt": (json.dumps(PAIR | {"prompt": ""}).encode(), 422, "body.prompt"),
    "too long field": (json.dumps(PAIR | {"response_a": "a" * 2001}).encode(), 422, "at most 2000 characters"),
    "too big body": (json.dumps(PAIR | {"pad": "x" * 30_000}).encode(), 413, "limit is 20000 bytes"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_4xx_and_server_stays_healthy(server: ServerProcess, case: str) -> None:
    content, status, words = BAD[case]
    r = _raw(server, content)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    assert healthy(server)


def test_chunked_body_over_the_limit_is_413(server: ServerProcess) -> None:
    def chunks():
        for _ in range(30):
            yield b"x" * 1000

    r = httpx.post(f"{server.url}/v1/judge/pairwise", content=chunks(), headers=AUTH, timeout=30)
    assert r.status_code == 413 and "at least" in r.json()["error"]["message"]
    assert healthy(server)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_sent_before_reading_gets_413_not_a_reset(
    server: ServerProcess, chunked: bool
) -> None:
    """urllib writes the whole 5 MB body before it reads: the server drains it, then answers 413."""
    import urllib.error
    import urllib.request

    body = b"x" * (5 << 20)
    data = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    req = urllib.request.Request(f"{server.url}/v1/judge/pairwise", data=data, headers=AUTH, method="POST")
    if chunked:
        req.add_header("Transfer-Encoding", "chunked")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 413 and "limit is 20000 bytes" in json.loads(e.value.read())["error"]["message"]
    assert healthy(server)


def test_bad_batches_and_routes(server: ServerProcess) -> None:
    assert post(server, "/v1/judge/pairwise/batch", {"items": []}).status_code == 422
    r = post(server, "/v1/judge/pointwise/batch", {"items": [POINT] * 9})
    assert r.status_code == 422 and "at most 8 items" in r.json()["error"]["message"]
    assert post(server, "/v1/judge/nowhere", PAIR).status_code == 404
    assert httpx.get(f"{server.url}/v1/judge/pairwise", headers=AUTH).status_code == 405
    assert healthy(server)


# -- load --------------------------------------------------------------------------------------------


def test_concurrent_requests_are_batched(server: ServerProcess) -> None:
    calls = metric(server, "j1_engine_generate_calls_total")

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=120) as client:
            bodies = [PAIR | SHORT | {"prompt": f"What is {i} + 30?"} for i in range(32)]
            return await asyncio.gather(*(client.post("/v1/judge/pairwise", json=b) for b in bodies))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 32
    assert all(r.json()["parsed"] + r.json()["parse_failures"] == 1 for r in responses)
    engine_calls = metric(server, "j1_engine_generate_calls_total") - calls
    assert 1 <= engine_calls < 32 / 2, f"32 requests took {engine_calls} engine calls: not batched"


# -- clients -----------------------------------------------------------------------------------------


def test_python_client_sync(server: ServerProcess) -> None:
    with JudgeClient(server.url, api_key=KEY) as judge:
        assert judge.health()["status"] == "ok"
        r = judge.pairwise(
            PAIR["prompt"], PAIR["response_a"], PAIR["response_b"], both_orders=True, max_tokens=8
        )
        assert len(r["orders"]) == 2
        assert judge.pointwise(POINT["prompt"], POINT["response"], max_tokens=8)["format"] == "pointwise"
        rs = judge.pairwise_batch([tuple(PAIR.values()), PAIR], max_tokens=8)
        assert len(rs) == 2 and all("verdict" in x for x in rs)
        assert len(judge.pointwise_batch([(POINT["prompt"], "a"), POINT], max_tokens=8)) == 2
        with pytest.raises(JudgeAPIError) as e:
            judge.pairwise("x", "a" * 2001, "b")
        assert e.value.status == 422 and "at most 2000" in e.value.message
        first = judge._client
        judge.pointwise("x", "y", max_tokens=4)
        assert judge._client is first  # one connection pool, reused
    with pytest.raises(JudgeAPIError) as e:
        JudgeClient(server.url, api_key="nope").pairwise("x", "a", "b")
    assert e.value.status == 401


def test_python_client_async(server: ServerProcess) -> None:
    async def go() -> None:
        async with JudgeClient(server.url, api_key=KEY) as judge:
            assert (await judge.ahealth())["status"] == "ok"
            results = await asyncio.gather(
                *(judge.apairwise("q", f"a{i}", "b", max_tokens=8) for i in range(8)),
                judge.apointwise("q", "r", max_tokens=8),
            )
            assert len(results) == 9 and results[-1]["format"] == "pointwise"
            assert (
                len(await judge.apairwise_batch([("q", "a", "b")] * 3, both_orders=True, max_tokens=8)) == 3
            )
            assert len(await judge.apointwise_batch([("q", "a")] * 2, max_tokens=8)) == 2

    asyncio.run(go())


def test_openai_client_on_the_openai_routes(server: ServerProcess) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["tiny"]
    chat = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "What is 12 + 30?"}], max_tokens=8, n=2
    )
    assert len(chat.choices) == 2 and chat.choices[0].message.role == "assistant"
    assert chat.usage.completion_tokens >= 2 and chat.usage.prompt_tokens > 3
    comp = client.completions.create(
        model="tiny", prompt=["Once upon", "a time"], max_tokens=4, temperature=0
    )
    assert len(comp.choices) == 2 and comp.choices[1].index == 1
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4", prompt="x", max_tokens=4)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}], stream=True)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()
    assert healthy(server)


def test_grpo_step_with_the_served_judge_as_reward(
    server: ServerProcess, tiny_model_dir: Path, tmp_path
) -> None:
    """A real `trl.GRPOTrainer` step of a tiny policy whose reward is the live judge (pointwise)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    calls: list[int] = []
    judge = judge_reward(server.url, mode="pointwise", api_key=KEY, max_tokens=8)

    def reward(prompts: list, completions: list, **kw: Any) -> list[float | None]:
        out = judge(prompts, completions, **kw)
        calls.append(len(out))
        return out

    reward.__name__ = "judge"
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": f"What is {i} + 1?"}]} for i in range(4)]
    )
    args = GRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=4, num_generations=2,
        max_completion_length=8, max_steps=1, report_to=[], logging_steps=1, save_strategy="no",
        dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        reward_funcs=[reward],
        args=args,
        train_dataset=data,
        processing_class=tok,
    )
    trainer.train()
    assert trainer.state.global_step == 1 and calls and sum(calls) >= 4
    assert metric(server, "j1_requests_total", route="/v1/judge/pointwise/batch", status="200") >= len(calls)


def test_policy_example_trains_with_the_served_judge(
    server: ServerProcess, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """examples/policy_grpo.py end to end on the tiny model: a GRPO step whose group rewards come from the
    live judge, the judge's cost in the run's metrics, a manifest with the summary; its recipe validates."""
    import importlib.util
    import sys

    from j1.config import load_config

    path = Path(__file__).parents[1] / "examples" / "policy_grpo.py"
    spec = importlib.util.spec_from_file_location("policy_grpo", path)
    assert spec and spec.loader
    example = sys.modules["policy_grpo"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(example)
    overrides = [
        f"out={tmp_path / 'policy'}", f"policy={tiny_model_dir}", f"judge_url={server.url}",
        f"reward.api_key={KEY}", "reward.batch_size=8", "reward.options={max_tokens: 8}",
        "prompts.math=2", "prompts.chat=2", "grpo.max_steps=1", "grpo.max_completion_length=8",
        "grpo.save_steps=1", "grpo.bf16=false", "grpo.use_vllm=false",
    ]  # fmt: skip
    out = example.run(load_config(example.PolicyRun, example.RECIPE, overrides), command="test")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    step = next(r for r in records if "judge/calls_per_rollout" in r)
    assert step["judge/calls_per_rollout"] == 2.0  # regular, k = 2: each rollout in 2 comparisons x 2 orders
    assert step["judge/seconds"] > 0 and "judge/verifier_pairs" in step
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["counts"]["steps"] == 1
    assert (out / "policy" / "config.json").is_file() and len(manifest["summary"]["reward_per_step"]) == 1


# -- queue, timeout, shutdown --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Queue of 2 prompts, 1 s timeout, and an engine that waits 2 s to fill each batch."""
    srv = start(
        tiny_model_dir, tmp_path_factory.mktemp("slow"),
        "--queue-size", "2", "--request-timeout", "1", "--option", "batch_wait_ms=2000",
    )  # fmt: skip
    yield srv
    srv.stop()


def test_full_queue_is_429_and_slow_answers_504(slow_server: ServerProcess) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=slow_server.url, timeout=30) as client:
            return await asyncio.gather(
                *(client.post("/v1/judge/pairwise", json=PAIR | SHORT) for _ in range(8))
            )

    statuses = sorted(r.status_code for r in asyncio.run(burst()))
    # 2 admitted at a time, each times out; the others are refused at once (unless they came late)
    assert set(statuses) == {429, 504} and statuses.count(504) >= 2, statuses
    r = httpx.post(f"{slow_server.url}/v1/judge/pairwise", json=PAIR | {"both_orders": True}, timeout=30)
    assert r.status_code == 504 and "timeout" in r.json()["error"]["message"]
    assert metric(slow_server, "j1_rejected_total", reason="queue_full") == statuses.count(429)
    assert healthy(slow_server)
    assert httpx.get(f"{slow_server.url}/healthz").json()["queue"]["used"] == 0
    # auth off: no key needed on this server
    assert httpx.get(f"{slow_server.url}/v1/models").status_code == 200


def test_graceful_shutdown_drains_in_flight_requests(tiny_model_dir: Path, tmp_path: Path) -> None:
    srv = start(tiny_model_dir, tmp_path, "--option", "batch_wait_ms=1500")
    results: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: results.append(
            httpx.post(f"{srv.url}/v1/judge/pairwise", json=PAIR | SHORT, timeout=60)
        )
    )
    thread.start()
    deadline = time.monotonic() + 30
    while metric(srv, "j1_queue_prompts") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # until the request waits in the engine's batch window
    srv.terminate()
    t0 = time.monotonic()
    thread.join(30)
    assert results and results[0].status_code == 200, srv.log()
    assert srv.proc is not None and srv.proc.wait(timeout=30) == 0, srv.log()
    assert time.monotonic() - t0 < 30
    with socket.socket() as s:  # the port is closed after the exit
        assert s.connect_ex(("127.0.0.1", srv.port)) != 0


def test_shutdown_under_load_answers_every_request_within_the_bound(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """SIGTERM with 6 requests waiting in a 4 s batch window and a 3 s shutdown timeout: each gets an answer
    (200 or 503, never a dropped connection) within the timeout (4.5 s under load), and the server exits."""
    srv = start(tiny_model_dir, tmp_path, "--option", "batch_wait_ms=4000", "--shutdown-timeout", "3")
    results: list[object] = []

    def call() -> None:
        try:
            results.append(httpx.post(f"{srv.url}/v1/judge/pairwise", json=PAIR | SHORT, timeout=60))
        except httpx.HTTPError as e:
            results.append(e)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while metric(srv, "j1_queue_prompts") < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.terminate()
    t0 = time.monotonic()
    for t in threads:
        t.join(30)
    answered = time.monotonic() - t0
    assert srv.proc is not None and srv.proc.wait(timeout=30) == 0, srv.log()
    exited = time.monotonic() - t0
    assert all(isinstance(r, httpx.Response) for r in results), results
    assert sorted({r.status_code for r in results}) in ([200], [503], [200, 503]), results
    for r in results:
        if r.status_code == 503:
            assert "shutting down" in r.json()["error"]["message"]
    assert len(results) == 6 and answered < 4.5 and exited < 15, (answered, exited)


# -- command line ----------------------------------------------------------------------------------


def test_cli_errors_are_clear(tiny_model_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        port = [] if "--port" in args else ["--port", str(free_port())]
        return subprocess.run([sys.executable, "-m", "j1.server", *args, *port], capture_output=True,
                              text=True, env=env(), timeout=120)  # fmt: skip

    r = run("--engine", "upstream")
    assert r.returncode == 1 and "needs an upstream URL" in r.stderr
    r = run("--judge", str(tiny_model_dir), "--format", "nope")
    assert r.returncode == 1 and "unknown judge format 'nope'" in r.stderr
    r = run("--judge", str(tiny_model_dir), "--engine", "hf", "--option", "beam=3")
    assert r.returncode == 1 and "has no option 'beam'" in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = run("--judge", str(tiny_model_dir), "--engine", "hf", "--port", str(s.getsockname()[1]))
    assert r.returncode == 1 and "cannot listen on 127.0.0.1" in r.stderr


# -- vLLM ------------------------------------------------------------------------------------------


def _burst(url: str, n: int, headers: dict | None = None) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, headers=headers or {}, timeout=300) as client:
            bodies = [PAIR | SHORT | {"prompt": f"What is {i} + 30?"} for i in range(n)]
            return await asyncio.gather(*(client.post("/v1/judge/pairwise", json=b) for b in bodies))

    return asyncio.run(go())


@pytest.mark.slow
def test_vllm_engine_in_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The in-process AsyncLLM engine: start, one pairwise request, one concurrent burst, the OpenAI routes."""
    args = ["--judge", str(tiny_model_dir), "--engine", "vllm", "--served-model-name", "tiny",
            "--option", "max_model_len=2048"]  # fmt: skip
    with ServerProcess(args, env=env(), log_path=tmp_path / "vllm.log", startup_timeout=600) as srv:
        r = httpx.post(f"{srv.url}/v1/judge/pairwise", json=PAIR | SHORT | {"both_orders": True}, timeout=120)
        assert r.status_code == 200, r.text
        out = r.json()
        assert len(out["orders"]) == 2 and out["parsed"] + out["parse_failures"] == 2
        assert 1 <= out["usage"]["completion_tokens"] <= 16
        responses = _burst(srv.url, 16)
        assert [x.status_code for x in responses] == [200] * 16
        r = httpx.post(
            f"{srv.url}/v1/judge/pointwise", json=POINT | SHORT | {"samples": 2, "temperature": 1.0}
        )
        assert r.status_code == 200 and len(r.json()["scores"]) == 2
        r = httpx.post(f"{srv.url}/v1/judge/pairwise", json=PAIR | {"max_tokens": 2000}, timeout=60)
        assert r.status_code == 422 and "context" in r.json()["error"]["message"]
        import openai

        chat = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x").chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        assert chat.choices[0].finish_reason in ("stop", "length")
        assert metric(srv, "j1_engine_generate_calls_total") >= 16
        assert srv.stop() == 0, srv.log()


def _children(pid: int) -> list[int]:
    return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _health_sequence(url: str, timeout: float = 600) -> list[int]:
    """/healthz statuses until the server is down then up again (or the timeout)."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline and seen[-2:] != [503, 200]:
        try:
            status = httpx.get(f"{url}/healthz", timeout=30).status_code
        except httpx.HTTPError:
            status = -1
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.5)
    return seen


@pytest.mark.slow
def test_vllm_engine_in_process_survives_its_engine_core(tiny_model_dir: Path, tmp_path: Path) -> None:
    """SIGKILL vLLM's engine-core process under load: requests in flight get a prompt 503 (no hang),
    /healthz turns 503, a new engine starts (backoff 1 s) and the same server answers 200 again."""
    import signal

    args = ["--judge", str(tiny_model_dir), "--engine", "vllm", "--served-model-name", "tiny",
            "--option", "max_model_len=2048", "--request-timeout", "120"]  # fmt: skip
    with ServerProcess(args, env=env(), log_path=tmp_path / "vllm.log", startup_timeout=600) as srv:
        assert srv.proc is not None
        cores = [
            c for c in _children(srv.proc.pid) if _cmdline(Path(f"/proc/{c}")).startswith("VLLM::EngineCore")
        ]
        assert len(cores) == 1, [_cmdline(Path(f"/proc/{c}")) for c in _children(srv.proc.pid)]

        async def load_then_kill() -> list[tuple[int, float, dict]]:
            async with httpx.AsyncClient(base_url=srv.url, timeout=300) as client:

                async def one(i: int) -> tuple[int, float, dict]:
                    t = time.monotonic()
                    # the random tiny model writes to its cap: staggered caps, staggered ends
                    body = PAIR | {"max_tokens": 64 + 32 * i, "prompt": f"{i}?"}
                    r = await client.post("/v1/judge/pairwise", json=body)
                    return r.status_code, time.monotonic() - t, r.json()

                tasks = [asyncio.create_task(one(i)) for i in range(32)]
                while metric(srv, "j1_engine_generate_calls_total") < 1 and not all(t.done() for t in tasks):
                    await asyncio.sleep(0.05)  # the kill lands after the first answers, before the last
                os.kill(cores[0], signal.SIGKILL)
                return await asyncio.gather(*tasks)

        results = asyncio.run(load_then_kill())
        statuses = [r[0] for r in results]
        assert set(statuses) <= {200, 503} and 503 in statuses, statuses
        assert max(r[1] for r in results) < 120  # none hung to the request timeout
        assert all("vllm engine" in r[2]["error"]["message"] for r in results if r[0] == 503)
        seen = _health_sequence(srv.url)
        assert seen[-2:] == [503, 200], (seen, srv.log()[-3000:])
        r = httpx.post(f"{srv.url}/v1/judge/pairwise", json=PAIR | SHORT, timeout=120)
        assert r.status_code == 200, r.text
        assert srv.stop() == 0, srv.log()


@pytest.mark.slow
def test_vllm_serve_child_is_supervised(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`vllm-serve`: a `vllm serve` child behind the judge API; killed, it is restarted; stopped with us."""
    import signal

    import openai

    args = ["--judge", str(tiny_model_dir), "--engine", "vllm-serve", "--served-model-name", "tiny",
            "--option", "max_model_len=2048"]  # fmt: skip
    with ServerProcess(args, env=env(), log_path=tmp_path / "serve.log", startup_timeout=600) as srv:
        r = httpx.post(f"{srv.url}/v1/judge/pairwise", json=PAIR | SHORT | {"both_orders": True}, timeout=120)
        assert r.status_code == 200 and len(r.json()["orders"]) == 2, r.text
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0)
        assert [m.id for m in client.models.list()] == ["tiny"]
        assert srv.proc is not None
        (child,) = _children(srv.proc.pid)
        os.kill(child, signal.SIGKILL)
        deadline, seen = time.monotonic() + 600, []
        while time.monotonic() < deadline and seen[-2:] != [503, 200]:  # down, then up again
            status = httpx.get(f"{srv.url}/healthz", timeout=30).status_code
            if not seen or seen[-1] != status:
                seen.append(status)
            time.sleep(1)
        assert seen[-2:] == [503, 200], (seen, srv.log())
        assert _children(srv.proc.pid) != [child]
        r = httpx.post(f"{srv.url}/v1/judge/pointwise", json=POINT | SHORT, timeout=120)
        assert r.status_code == 200, r.text
        (child,) = _children(srv.proc.pid)
        assert srv.stop() == 0, srv.log()
        assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    # no orphaned vLLM engine processes of either child are left holding memory
    leftovers = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _cmdline(p).startswith("VLLM::") and _ppid(p) == 1
    ]
    assert not leftovers, [_cmdline(p) for p in leftovers]


def _cmdline(p: Path) -> str:
    try:
        return (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _ppid(p: Path) -> int:
    try:
        return int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def test_server_process_picks_another_port_when_its_port_is_taken(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import j1.server.process as process

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        ports = iter([held.getsockname()[1], free_port()])
        monkeypatch.setattr(process, "free_port", lambda host="127.0.0.1": next(ports))
        srv = start(tiny_model_dir, tmp_path)
        try:
            assert srv.port != held.getsockname()[1] and healthy(srv)
        finally:
            srv.stop()
