"""Judge traces for SFT and DPO: written from the pair by template, or sampled from a judge model.

- `template`: the trace restates what each response says (its final answer for math, its first sentence
  otherwise), then decides, in the format's own answer block. `label_policy: correct` writes the label's
  verdict; `random_pair` one seeded coin per pair, so both orders side with the same response (the format
  and position invariance, and nothing about which response is right).
  `own_answer` (pairwise math examples) makes the trace compute before it decides, as J1's judges do with a
  reference answer of their own: it opens with its own answer, then checks response A against it, then, if
  A does not match, response B, and decides for the first that matches. `response`: the own answer is one
  response's (the policy's decision: no more label than the policy reads); `model`: the judge model's own
  greedy solution of the question (`solve_questions`), so the decision is right exactly as often as the
  model's own answer is, and no label is read. `own_answer_form: equation` writes the own answer as the
  equation the question asks for ("14 times 4 = 56").
- `judge`: `samples` traces per judge prompt from any j1 backend (a stronger judge, or the model itself =
  rejection sampling), each marked right or wrong by the same rewards GRPO uses (`verdict` for pairwise,
  `pointwise_pair` for pointwise, sample k of the chosen example paired with sample k of the rejected).
- `generate_with_model`: sampling with an in-memory model (semi-online DPO re-samples with the policy).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any, get_args

from j1 import J1Error
from j1.formats import LOSE, WIN, get_format
from j1.pairs import Pair
from j1.train.config import LabelPolicy, OwnAnswer, OwnAnswerForm
from j1.train.examples import JudgeExample
from j1.train.rewards import pointwise_pair, verdict

TAG = re.compile(r"</?[A-Za-z_]+>|\[\[|\]\]")  # tags and brackets


def gist(text: str, source: str = "") -> str:
    """What a response says, in a few words: its final answer for math, else its first sentence."""
    from j1.verifiers.extract import extract_answer

    ext = extract_answer(text)
    if ext.answer and (ext.marked or source == "math"):
        said = ext.answer
    else:
        first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
        words = first.split()
        said = " ".join(words[:30]) + (" ..." if len(words) > 30 else "")
    return TAG.sub("", said).strip() or "nothing"


def _shown(example: JudgeExample, pair: Pair) -> tuple[str, str]:
    return (pair.chosen, pair.rejected) if example.order == "ab" else (pair.rejected, pair.chosen)


def _restate(example: JudgeExample, pair: Pair, mine: str | None = None, own: str | None = None) -> str:
    """What each response says. With `mine` (the judge's own answer): the trace opens with it, then checks
    A, and B only if A does not match; `own` ("A"/"B", None = neither) is the response that matches."""
    a, b = _shown(example, pair)
    if mine is None:
        return f"Response A says: {gist(a, pair.source)}. Response B says: {gist(b, pair.source)}."
    steps = [f"My own answer: {mine}."]
    for side, text in zip("AB", (a, b), strict=True):
        match = side == own
        steps.append(
            f"Response {side} says {gist(text, pair.source)}, which "
            f"{'matches' if match else 'does not match'} my answer."
        )
        if match:
            break
    else:
        steps.append("Neither response matches my answer.")
    return " ".join(steps)


def agreeing_side(example: JudgeExample, pair: Pair, mine: str) -> str | None:
    """The first response ("A", then "B") whose final answer equals `mine`, None if neither does."""
    from j1.verifiers.mathcheck import quick_equal

    for side, text in zip("AB", _shown(example, pair), strict=True):
        if quick_equal(mine, gist(text, pair.source)):
            return side
    return None


OTHER = {"A": "B", "B": "A", "good": "bad", "bad": "good"}


def check_choice(key: str, value: str, valid: Sequence[str]) -> None:
    """`traces.<key>` is one of `valid`."""
    if value not in valid:
        raise J1Error(f"unknown traces.{key} {value!r}; valid: {', '.join(valid)}")


def template_traces(
    examples: Sequence[JudgeExample],
    pairs: dict[str, Pair],
    policy: str = "correct",
    seed: int = 0,
    own_answer: str = "none",
    own_answers: dict[str, str] | None = None,
    form: str = "value",
) -> list[str]:
    """One trace per example (see the module's docstring for `policy`, `own_answer` and `form`).
    `random_pair` draws its coin per pair, on content (chosen or rejected), so both orders of a pair side
    with the same response: half the pairs consistently right, half consistently wrong. `own_answers`
    (question -> the model's own answer, written as `solve_questions` writes it) is what `own_answer: model`
    reads; where neither response matches it, the policy's coin decides."""
    check_choice("label_policy", policy, get_args(LabelPolicy))
    check_choice("own_answer", own_answer, get_args(OwnAnswer))
    check_choice("own_answer_form", form, get_args(OwnAnswerForm))
    if own_answer == "model" and own_answers is None:
        raise J1Error("traces.own_answer: model needs the model's own answers (solve_questions)")
    out = []
    for e in examples:
        fmt = get_format(e.format)
        right = ("good" if e.role == "chosen" else "bad") if e.role else e.label
        if policy == "random_pair":  # one coin per pair, on content: both orders side with the same response
            decision = right if random.Random(f"{seed}:{e.group}").random() < 0.5 else OTHER[right]
        else:
            decision = right
        pair = pairs[e.pair_id]
        own, mine = None, None
        if own_answer != "none" and not e.role and pair.source == "math":
            if own_answer == "model":
                mine = (own_answers or {}).get(pair.prompt) or "none"
                own = agreeing_side(e, pair, final_value(mine))
            else:  # the decided response's answer; checked in turn, the first that says it agrees
                mine = gist(_shown(e, pair)["AB".index(decision)], pair.source)
                own = agreeing_side(e, pair, mine) or decision
                expr = question_expression(pair.prompt) if form == "equation" else None
                mine = f"{expr} = {mine}" if expr else mine
            decision = own or decision
        if e.role:  # pointwise: what the response says, then its score
            text = pair.chosen if e.role == "chosen" else pair.rejected
            thinking = f"The response says: {gist(text, pair.source)}."
            out.append(fmt.write(thinking, str(WIN if decision == "good" else LOSE)))
        else:
            thinking = f"{_restate(e, pair, mine, own)} Response {decision} answers the question better."
            out.append(fmt.write(thinking, decision))
    return out


def mark_samples(examples: Sequence[JudgeExample], samples: Sequence[Sequence[str]]) -> list[list[bool]]:
    """Per example, per sample: is the trace right? Computed by the rewards (verdict / pointwise_pair)."""
    rows, texts = [], []
    for e, ss in zip(examples, samples, strict=True):
        for s in ss:
            rows.append(e.row())
            texts.append(s)
    cols = {k: [r[k] for r in rows] for k in ("pair_id", "format", "order", "label", "role")}
    prompts = [r["prompt"] for r in rows]
    v = verdict(prompts, texts, **cols)
    p = pointwise_pair(prompts, texts, **cols) if any(cols["role"]) else [None] * len(rows)
    right = [(a if a is not None else b) == 1.0 for a, b in zip(v, p, strict=True)]
    out, k = [], 0
    for ss in samples:
        out.append(right[k : k + len(ss)])
        k += len(ss)
    return out


def sample_with_backend(
    examples: Sequence[JudgeExample],
    backend: str,
    model: str,
    options: dict[str, Any],
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
) -> list[list[str]]:
    from j1.backends import SamplingParams, make_backend

    params = SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
    with make_backend(backend, model, **options) as engine:
        gens = engine.generate([e.row()["prompt"] for e in examples], params)
    return [[s.text for s in g.samples] for g in gens]


def solve_questions(
    questions: Sequence[str],
    backend: str,
    model: str,
    options: dict[str, Any],
    seed: int,
    form: str = "value",
) -> dict[str, str]:
    """The judge model's own answers, each question solved once, greedily. `value`: as `j1 synth` asks it
    (its math system prompt and token budget), the final value extracted ("" when there is none).
    `equation`: a question that asks for an arithmetic expression ("What is 14 times 4?") is answered by
    the model continuing "14 times 4 =" (the value is the number it writes next), and the own answer is
    that equation, "14 times 4 = 56"; other questions are solved as under `value`."""
    from j1.backends import SamplingParams, make_backend
    from j1.data_synthesis.math_pairs import MathConfig, conversations
    from j1.data_synthesis.sources import Item
    from j1.verifiers.extract import extract_answer

    check_choice("own_answer_form", form, get_args(OwnAnswerForm))
    questions = list(dict.fromkeys(questions))
    exprs = {q: question_expression(q) if form == "equation" else None for q in questions}
    solve = [q for q in questions if exprs[q] is None]
    compute = [q for q in questions if exprs[q] is not None]
    items = [Item(key=str(i), text=q) for i, q in enumerate(solve)]
    math = MathConfig()
    own: dict[str, str] = {}
    with make_backend(backend, model, **options) as engine:
        if solve:
            params = SamplingParams(n=1, temperature=0.0, max_tokens=math.max_tokens, seed=seed)
            gens = engine.generate(conversations(items, math), params)
            for q, g in zip(solve, gens, strict=True):
                own[q] = final_value(extract_answer(g.samples[0].text).answer or "")
        if compute:
            params = SamplingParams(n=1, temperature=0.0, max_tokens=EQUATION_TOKENS, seed=seed)
            convs = [
                [{"role": "user", "content": q}, {"role": "assistant", "content": f"{exprs[q]} ="}]
                for q in compute
            ]
            for q, g in zip(compute, engine.generate(convs, params), strict=True):
                number = NUMBER.match(g.samples[0].text)
                own[q] = f"{exprs[q]} = {number.group(1) if number else '?'}"
    return {q: own[q] for q in questions}


def question_expression(question: str) -> str | None:
    """The arithmetic expression a question asks for ("What is 14 times 4?" -> "14 times 4"), or None."""
    m = ASKS_FOR.match(question)
    return m.group(1).strip() if m and ARITHMETIC.fullmatch(m.group(1).strip()) else None


EQUATION_TOKENS = 8  # the value after "expr =": a number, a few tokens
ASKS_FOR = re.compile(r"\s*what is (.+?)\?\s*$", re.IGNORECASE)
ARITHMETIC = re.compile(r"[-+*/x×÷().\d\s]+|[\d.]+(\s*(times|plus|minus|divided by)\s*[\d.]+)+")
NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?)")


def final_value(answer: str) -> str:
    """An extracted answer as a value: "15 + 11 = 26" -> "26" (what follows the last "=")."""
    return TAG.sub("", answer.rsplit("=", 1)[-1]).strip()


def generate_with_model(
    model: Any,
    tokenizer: Any,
    examples: Sequence[JudgeExample],
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    batch_size: int = 16,
) -> list[list[str]]:
    """`n` sampled traces per example from an in-memory model (left padding, chat template)."""
    import torch

    was_training = model.training
    model.eval()
    out: list[list[str]] = []
    try:
        for start in range(0, len(examples), max(1, batch_size // n)):
            chunk = examples[start : start + max(1, batch_size // n)]
            texts = [
                tokenizer.apply_chat_template(e.row()["prompt"], tokenize=False, add_generation_prompt=True)
                for e in chunk
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
                model.device
            )
            torch.manual_seed(seed + start)
            with torch.inference_mode():
                gen = model.generate(
                    **batch,
                    do_sample=temperature > 0,
                    temperature=temperature if temperature > 0 else None,
                    top_k=0,
                    max_new_tokens=max_tokens,
                    num_return_sequences=n,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = tokenizer.batch_decode(gen[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            out += [new[i * n : (i + 1) * n] for i in range(len(chunk))]
    finally:
        model.train(was_training)
    return out
