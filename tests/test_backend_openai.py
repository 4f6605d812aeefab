"""The `openai` backend against fake OpenAI-compatible servers on 127.0.0.1 (offline, no model hub).

Each fake server answers `/v1/completions` and `/v1/chat/completions` deterministically (the text names
the server and a digest of the prompt), returns choices in reverse index order, and can be told to fail
the next requests, to sleep, and to report its own usage; it records request bodies, headers and the
largest number of requests in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from j1 import J1Error
from j1.backends import SamplingParams, make_backend, render_chat
from j1.backends.base import load_tokenizer
from j1.backends.openai import OpenAIBackend

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CONVS = [
    [{"role": "user", "content": "What is 12 + 30?"}],
    [{"role": "system", "content": "You are a judge."}, {"role": "user", "content": "Is A better than B?"}],
    [{"role": "user", "content": "Write a haiku about rain."}],
]


def reply(server: str, key: str, i: int) -> str:
    return f"{server} says {hashlib.md5(key.encode()).hexdigest()[:6]} {i}"


class FakeServer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.reset()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.fail: list[int] = []  # statuses for the next requests, one each
        self.delay = 0.0
        self.completion_tokens: int | None = None
        self.inflight = self.max_inflight = 0

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        chat = path.endswith("/chat/completions")
        key = json.dumps(body["messages"]) if chat else body["prompt"]
        choices = []
        for i in reversed(range(body.get("n", 1))):
            text = reply(self.name, key, i)
            finish, reason = "stop", None  # EOS
            if body.get("stop"):
                reason = body["stop"][0]
            elif body.get("max_tokens", 16) < 8:
                finish = "length"
            out = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
            words = [w if k == 0 else " " + w for k, w in enumerate(text.split(" "))]
            logprobs = None
            if body.get("logprobs") and chat:  # OpenAI's chat shape
                logprobs = {"content": [{"token": w, "logprob": -0.1, "top_logprobs": [
                    {"token": w, "logprob": -0.1}, {"token": " X", "logprob": -2.5}]} for w in words]}  # fmt: skip
            elif body.get("logprobs"):  # the completions shape
                logprobs = {"tokens": words, "token_logprobs": [-0.1] * len(words),
                            "top_logprobs": [{w: -0.1, " X": -2.5} for w in words]}  # fmt: skip
            choices.append(
                {"index": i, **out, "finish_reason": finish, "stop_reason": reason, "logprobs": logprobs}
            )
        done = sum(len(c.get("text", c.get("message", {}).get("content", "")).split()) for c in choices)
        usage = {"prompt_tokens": len(key.split()), "completion_tokens": self.completion_tokens or done}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        kind = "chat.completion" if chat else "text_completion"
        return {
            "id": "x",
            "object": kind,
            "created": 0,
            "model": body["model"],
            "choices": choices,
            "usage": usage,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("retry-after-ms", "1")  # keep the client's backoff short
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append((self.path, body, dict(self.headers)))
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    status = server.fail.pop(0) if server.fail else None
                try:
                    time.sleep(server.delay)
                    if status is not None:
                        self.send(status, {"error": {"message": f"injected {status}", "type": "test"}})
                    elif self.path in ("/v1/completions", "/v1/chat/completions"):
                        self.send(200, server.answer(self.path, body))
                    else:
                        self.send(404, {"error": {"message": f"no route {self.path}"}})
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with server.lock:
                        server.inflight -= 1

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
    a, b = FakeServer("alpha"), FakeServer("beta")
    yield a, b
    a.close()
    b.close()


@pytest.fixture()
def alpha(servers: tuple[FakeServer, FakeServer]) -> FakeServer:
    for s in servers:
        s.reset()
    return servers[0]


@pytest.fixture()
def beta(servers: tuple[FakeServer, FakeServer], alpha: FakeServer) -> FakeServer:
    return servers[1]


def _tiny_tokenizer(folder: Path) -> Path:
    """A WordLevel tokenizer with a ChatML template, for when conftest has no `tiny_model_dir`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]", "<|im_start|>", "<|im_end|>"])
    tok.train_from_iterator([c["content"] for conv in CONVS for c in conv] + ["alpha beta says"], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>")
    fast.chat_template = CHATML
    fast.save_pretrained(folder)
    (folder / "config.json").write_text('{"model_type": "gpt2"}')  # what makes it a model folder
    return folder


@pytest.fixture(scope="session")
def tok_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    try:
        return str(request.getfixturevalue("tiny_model_dir"))
    except pytest.FixtureLookupError:
        return str(_tiny_tokenizer(tmp_path_factory.mktemp("tok")))


@pytest.fixture(scope="session")
def tok(tok_dir: str) -> Any:
    return load_tokenizer(tok_dir)


def ntok(tok: Any, text: str) -> int:
    return len(tok.encode(text, add_special_tokens=False))


def test_completions_mode_sends_the_rendered_prompt_and_sampling_params(alpha, tok_dir, tok) -> None:
    backend = OpenAIBackend("judge", base_url=alpha.url, tokenizer=tok_dir)
    assert backend.mode == "completions"
    params = SamplingParams(n=3, temperature=0.7, top_p=0.9, max_tokens=32, seed=5)
    gens = backend.generate(CONVS, params)
    assert len(alpha.requests) == len(CONVS)
    sent = {body["prompt"]: (path, body) for path, body, _ in alpha.requests}
    for conv, gen in zip(CONVS, gens, strict=True):
        prompt = render_chat(tok, conv)
        path, body = sent[prompt]
        assert path == "/v1/completions"
        assert {k: body[k] for k in ("model", "n", "temperature", "top_p", "max_tokens", "seed")} == {
            "model": "judge",
            "n": 3,
            "temperature": 0.7,
            "top_p": 0.9,
            "max_tokens": 32,
            "seed": 5,
        }
        assert "stop" not in body
        assert gen.prompt == prompt and gen.prompt_tokens == ntok(tok, prompt)
        assert [s.text for s in gen.samples] == [reply("alpha", prompt, i) for i in range(3)]  # by index
        assert [s.finish_reason for s in gen.samples] == ["stop"] * 3
        assert [s.num_tokens for s in gen.samples] == [ntok(tok, s.text) + 1 for s in gen.samples]  # + EOS


def test_token_counts_on_length_and_on_a_stop_string(alpha, tok_dir, tok) -> None:
    backend = OpenAIBackend("judge", base_url=alpha.url, tokenizer=tok_dir)
    [gen] = backend.generate(CONVS[:1], SamplingParams(max_tokens=4, seed=None))
    assert "seed" not in alpha.requests[-1][1]
    assert gen.samples[0].finish_reason == "length"
    assert gen.samples[0].num_tokens == ntok(tok, gen.samples[0].text)
    [gen] = backend.generate(CONVS[:1], SamplingParams(n=2, stop=["</answer>"]))
    assert alpha.requests[-1][1]["stop"] == ["</answer>"]
    for s in gen.samples:  # vLLM counts the tokens of the stop string, not an EOS
        assert s.finish_reason == "stop" and s.num_tokens == ntok(tok, s.text + "</answer>")


def test_chat_mode_without_tokenizer_uses_the_servers_usage(alpha) -> None:
    alpha.completion_tokens = 7
    backend = OpenAIBackend("gpt-judge", base_url=alpha.url)
    assert backend.mode == "chat" and backend.tokenizer is None
    gens = backend.generate(CONVS[:2], SamplingParams(n=3))
    for conv, gen in zip(CONVS[:2], gens, strict=True):
        key = json.dumps(conv)
        assert gen.prompt == json.dumps(conv, ensure_ascii=False)
        assert gen.prompt_tokens == len(key.split())
        assert [s.text for s in gen.samples] == [reply("alpha", key, i) for i in range(3)]
        assert [s.num_tokens for s in gen.samples] == [3, 2, 2]  # 7 completion tokens split over 3
    paths = {path for path, _, _ in alpha.requests}
    assert paths == {"/v1/chat/completions"}
    assert [body["messages"] for _, body, _ in alpha.requests] in (CONVS[:2], CONVS[1::-1])


def test_chat_mode_with_a_tokenizer_counts_locally(alpha, tok_dir, tok) -> None:
    backend = OpenAIBackend("judge", base_url=alpha.url, tokenizer=tok_dir, mode="chat")
    [gen] = backend.generate(CONVS[:1], SamplingParams())
    assert alpha.requests[0][0] == "/v1/chat/completions"
    assert gen.prompt == render_chat(tok, CONVS[0])
    assert gen.samples[0].num_tokens == ntok(tok, gen.samples[0].text) + 1


def test_api_key_from_the_environment(alpha, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    OpenAIBackend("m", base_url=alpha.url).generate(CONVS[:1], SamplingParams())
    OpenAIBackend("m", base_url=alpha.url, api_key="sk-given").generate(CONVS[:1], SamplingParams())
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAIBackend("m", base_url=alpha.url).generate(CONVS[:1], SamplingParams())
    auth = [{k.lower(): v for k, v in h.items()}["authorization"] for _, _, h in alpha.requests]
    assert auth == ["Bearer sk-test", "Bearer sk-given", "Bearer EMPTY"]


def test_round_robin_over_two_servers(alpha, beta) -> None:
    backend = OpenAIBackend("m", base_url=[alpha.url, beta.url + "/"])
    convs = [[{"role": "user", "content": f"question {i}"}] for i in range(4)]
    gens = backend.generate(convs, SamplingParams())
    assert [g.samples[0].text.split()[0] for g in gens] == ["alpha", "beta", "alpha", "beta"]
    assert len(alpha.requests) == len(beta.requests) == 2
    # the turn carries over between calls, so one-conversation calls spread too
    names = [backend.generate(convs[:1], SamplingParams())[0].samples[0].text.split()[0] for _ in range(3)]
    assert names == ["alpha", "beta", "alpha"]
    # a comma-separated string works as a list
    assert OpenAIBackend("m", base_url=f"{alpha.url}, {beta.url}").base_urls == [alpha.url, beta.url]


def test_retries_500_and_429_then_succeeds(alpha) -> None:
    alpha.fail = [500, 429]
    [gen] = OpenAIBackend("m", base_url=alpha.url, max_retries=2).generate(CONVS[:1], SamplingParams())
    assert gen.samples[0].text.startswith("alpha")
    assert len(alpha.requests) == 3


def test_retries_exhausted_raise_j1error_with_url_and_status(alpha) -> None:
    alpha.fail = [503, 503]
    with pytest.raises(J1Error, match=r"127\.0\.0\.1:\d+/v1/chat/completions: HTTP 503.*injected 503"):
        OpenAIBackend("m", base_url=alpha.url, max_retries=1).generate(CONVS[:1], SamplingParams())
    assert len(alpha.requests) == 2


def test_a_client_error_is_not_retried(alpha) -> None:
    alpha.fail = [400]
    with pytest.raises(J1Error, match=r"/v1/chat/completions: HTTP 400.*injected 400"):
        OpenAIBackend("m", base_url=alpha.url, max_retries=3).generate(CONVS[:1], SamplingParams())
    assert len(alpha.requests) == 1


def test_timeout_raises_j1error(alpha) -> None:
    alpha.delay = 1.0
    backend = OpenAIBackend("m", base_url=alpha.url, timeout=0.2, max_retries=0)
    start = time.monotonic()
    with pytest.raises(J1Error, match=r"127\.0\.0\.1:\d+/v1/chat/completions: request timed out"):
        backend.generate(CONVS[:1], SamplingParams())
    assert time.monotonic() - start < 0.9


def test_concurrency_limit_holds_across_all_requests(alpha) -> None:
    alpha.delay = 0.15
    convs = [[{"role": "user", "content": f"q{i}"}] for i in range(9)]
    gens = OpenAIBackend("m", base_url=alpha.url, concurrency=3).generate(convs, SamplingParams())
    assert len(gens) == 9 and alpha.max_inflight == 3


def test_refused_connection_raises_j1error_naming_the_url() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", timeout=2, max_retries=0)
    start = time.monotonic()
    with pytest.raises(J1Error, match=rf"http://127\.0\.0\.1:{port}/v1/chat/completions: cannot connect"):
        backend.generate(CONVS[:1], SamplingParams())
    assert time.monotonic() - start < 2


def test_generate_inside_a_running_event_loop(alpha) -> None:
    backend = OpenAIBackend("m", base_url=alpha.url)

    async def main() -> list[Any]:
        return backend.generate(CONVS[:2], SamplingParams())

    gens = asyncio.run(main())
    assert [g.samples[0].text for g in gens] == [reply("alpha", json.dumps(c), 0) for c in CONVS[:2]]


def test_bad_conversations_and_options_are_refused_before_any_request(alpha) -> None:
    backend = OpenAIBackend("m", base_url=alpha.url)
    with pytest.raises(J1Error, match="conversation 1, message 0"):
        backend.generate([CONVS[0], [{"role": "user"}]], SamplingParams())
    assert backend.generate([], SamplingParams()) == []
    assert alpha.requests == []
    with pytest.raises(J1Error, match="needs a tokenizer"):
        OpenAIBackend("m", base_url=alpha.url, mode="completions")
    with pytest.raises(J1Error, match="unknown mode"):
        OpenAIBackend("m", base_url=alpha.url, mode="bogus")
    with pytest.raises(J1Error, match="concurrency"):
        OpenAIBackend("m", base_url=alpha.url, concurrency=0)
    with pytest.raises(J1Error, match="base_url"):
        OpenAIBackend("m", base_url=[])
    with pytest.raises(J1Error, match="no option 'batch_size'"):
        make_backend("openai", "m", base_url=alpha.url, batch_size=4)


def test_make_backend_and_close(alpha) -> None:
    with make_backend("openai", "m", base_url=alpha.url, concurrency=2) as backend:
        assert isinstance(backend, OpenAIBackend) and backend.name == "openai"
        assert len(backend.generate(CONVS[:1], SamplingParams())) == 1
    with pytest.raises(J1Error, match="after close"):
        backend.generate(CONVS[:1], SamplingParams())


@pytest.mark.parametrize("mode", ["chat", "completions"])
def test_logprobs_are_asked_for_and_read(alpha, tok_dir, mode: str) -> None:
    options = {"mode": mode, "tokenizer": str(tok_dir)} if mode == "completions" else {"mode": mode}
    with make_backend("openai", "m", base_url=alpha.url, **options) as b:
        gen = b.generate(CONVS[:1], SamplingParams(temperature=0.0, max_tokens=16, logprobs=2))[0]
        plain = b.generate(CONVS[:1], SamplingParams(temperature=0.0, max_tokens=16))[0]
    body = alpha.requests[-2][1]
    assert (body["logprobs"], body.get("top_logprobs")) == ((True, 2) if mode == "chat" else (2, None))
    sample = gen.samples[0]
    assert "".join(tok for tok, _ in sample.logprobs) == sample.text
    assert all(alts[tok] == -0.1 and alts[" X"] == -2.5 for tok, alts in sample.logprobs)
    assert plain.samples[0].logprobs is None and "logprobs" not in alpha.requests[-1][1]
