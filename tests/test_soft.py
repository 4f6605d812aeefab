"""Soft verdicts (`j1.formats.soft`), their calibration in `j1 eval`, and log-probabilities from the hf
backend on the tiny model (vLLM's are checked in test_backends' slow test)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from j1.backends import SamplingParams, make_backend
from j1.eval.calibration import calibration
from j1.formats.soft import (
    expected_score,
    mean_score_distribution,
    score_distribution,
    verdict_probability,
    win_probability,
)

LN = math.log


def output(*tokens: tuple[str, dict[str, float]]) -> list[tuple[str, dict[str, float]]]:
    return list(tokens)


def test_probability_of_a_at_the_verdict_token() -> None:
    toks = output(
        ("<think>A is wrong, B is right.", {}),
        ("</think>", {}),
        ("<answer>", {}),
        ("[[", {}),
        ("A", {"A": LN(0.6), "B": LN(0.2), "C": LN(0.1)}),
        ("]]</answer>", {}),
    )
    assert verdict_probability(toks) == pytest.approx(0.75)


def test_letter_merged_with_its_brackets_and_leading_space() -> None:
    merged = output(("</think><answer>", {}), ("[[B", {"[[B": LN(0.9), "[[A": LN(0.1)}), ("]]", {}))
    assert verdict_probability(merged) == pytest.approx(0.1)
    spaced = output(
        ("</think><answer>[[", {}), (" A", {" A": LN(0.5), "A": LN(0.2), " B": LN(0.3)}), ("]]", {})
    )
    assert verdict_probability(spaced) == pytest.approx(0.7)


def test_prefilled_verdict_is_the_first_token() -> None:
    """The judge that does not think writes its letter first, after the prefill `<answer>[[`; a later
    `[[` it may write does not move the position."""
    toks = output(
        (" A", {" A": LN(0.3), " B": LN(0.1)}), ("]]</answer> or [[", {}), ("B", {"B": 0.0}), ("]]", {})
    )
    assert verdict_probability(toks, prefill="<answer>[[") == pytest.approx(0.75)
    assert verdict_probability(toks) == 0.0  # without the prefill the last [[ is read: its B
    assert verdict_probability(output(("I", {"I": 0.0})), prefill="<answer>[[") is None


@pytest.mark.parametrize(
    "toks",
    [
        None,
        [],
        output(("<think>", {}), ("[[", {}), ("A", {"A": 0.0, "B": -1.0}), ("]] ...", {})),  # never closed
        output(("<think>[[A]]</think><answer>", {}), ("no verdict", {})),  # only a quote in the thinking
        output(("</think>[[", {}), ("C", {"C": 0.0})),
        output(("</think>[[", {}), ("A", {"D": 0.0})),  # neither letter among the alternatives
    ],
)
def test_no_verdict_token_is_none(toks) -> None:  # noqa: ANN001
    assert verdict_probability(toks) is None


def test_score_distribution_at_the_first_digit() -> None:
    toks = output(
        ("<think>fine</think>", {}),
        ("<score>", {}),
        ("7", {"7": LN(0.5), "8": LN(0.3), "x": LN(0.1), "12": LN(0.05)}),  # "x", 12: not scores
        ("</score>", {}),
    )
    dist = score_distribution(toks)
    assert dist == pytest.approx({7.0: 0.625, 8.0: 0.375})
    assert expected_score(dist) == pytest.approx(7.375)


def test_score_written_over_several_tokens_counts_whole() -> None:
    # SmolLM2 writes "10" as "1", "0" and "7.5" as "7", ".", "5": the written token is the whole score
    ten = output(("</think><score>", {}), ("1", {"1": LN(0.8), "9": LN(0.2)}), ("0", {}), ("</score>", {}))
    assert score_distribution(ten) == pytest.approx({9.0: 0.2, 10.0: 0.8})
    half = output(
        ("</think><score> ", {}), ("7", {"7": LN(0.6), " 6": LN(0.4)}), (".", {}), ("5", {}), ("</score>", {})
    )
    assert score_distribution(half) == pytest.approx({6.0: 0.4, 7.5: 0.6})
    merged = output(
        ("</think><score", {}), (">8", {">8": LN(0.7), ">3": LN(0.3), "8": LN(0.5)}), ("</score>", {})
    )
    assert score_distribution(merged) == pytest.approx({3.0: 0.3, 8.0: 0.7})


@pytest.mark.parametrize(
    "toks",
    [
        None,
        output(("<think><score>7</score>", {}), ("still thinking", {})),
        output(("<score>7</score></think>", {}), ("no score after the reasoning", {})),
        output(("</think><score>", {}), ("7", {"x": 0.0}), ("</score>", {})),
        output(("</think><score>", {}), ("high", {"high": 0.0}), ("</score>", {})),
    ],
)
def test_no_score_token_is_none(toks) -> None:  # noqa: ANN001
    assert score_distribution(toks) is None


def test_score_mixture_and_win_probability() -> None:
    class S:
        def __init__(self, toks: list | None) -> None:
            self.logprobs = toks

    def scored(value: str, p: float, other: str) -> S:
        return S(output(("</think><score>", {}), (value, {value: LN(p), other: LN(1 - p)}), ("</score>", {})))

    mixed = mean_score_distribution([scored("8", 0.999999, "2"), scored("2", 0.5, "8"), S(None)])
    assert mixed == pytest.approx({2.0: 0.25, 8.0: 0.75}, abs=1e-5)
    assert mean_score_distribution([S(None)]) is None
    assert win_probability({8.0: 1.0}, {7.0: 0.5, 9.0: 0.5}) == pytest.approx(0.5)
    assert win_probability({5.0: 1.0}, {5.0: 1.0}) == pytest.approx(0.5)  # equal scores: half
    assert win_probability({5.0: 0.5, 9.0: 0.5}, {3.0: 1.0}) == pytest.approx(1.0)
    assert win_probability(None, {3.0: 1.0}) is None


def test_calibration_brier_ece_and_bins() -> None:
    rows = [
        {"order": "ab", "p_a": 0.9, "label": "chosen"},  # P(chosen) 0.9, right
        {"order": "ba", "p_a": 0.9, "label": "chosen"},  # P(chosen) 0.1, confident and wrong
        {"order": "ab", "p_a": 0.5, "label": "chosen"},  # 0.5: counted right (>= 0.5), confidence 0.5
        {"order": "ab", "p_a": 0.7, "label": "tie"},  # tie items are left out
        {"order": "ab", "p_a": None},
    ]
    cal = calibration(rows)
    assert cal["n"] == 3
    assert cal["brier"] == pytest.approx(((0.1) ** 2 + 0.9**2 + 0.5**2) / 3, abs=1e-4)
    top = [b for b in cal["bins"] if b["n"] and b["lo"] >= 0.85][0]
    assert top["n"] == 2 and top["accuracy"] == 0.5 and top["confidence"] == pytest.approx(0.9)
    # bins: {0.5: conf 0.5 acc 1.0, n 1}, {0.9: conf 0.9, acc 0.5, n 2}
    assert cal["ece"] == pytest.approx(1 / 3 * 0.5 + 2 / 3 * 0.4, abs=1e-4)
    assert calibration([{"order": "ab", "p_a": None}]) is None


def test_hf_backend_returns_top_logprobs(tiny_model_dir: Path) -> None:
    conv = [[{"role": "user", "content": "Which is better, A or B?"}]]
    with make_backend("hf", str(tiny_model_dir)) as b:
        greedy = b.generate(conv, SamplingParams(temperature=0.0, max_tokens=6, logprobs=3))[0].samples[0]
        sampled = b.generate(conv, SamplingParams(n=2, temperature=1.0, max_tokens=6, logprobs=3))[0].samples
        plain = b.generate(conv, SamplingParams(temperature=0.0, max_tokens=6))[0].samples[0]
    assert plain.logprobs is None and plain.text == greedy.text
    for s in [greedy, *sampled]:
        assert len(s.logprobs) == s.num_tokens
        for _tok, alts in s.logprobs:
            assert len(alts) <= 3 and all(lp <= 0 for lp in alts.values())
    # greedy decoding takes the most likely token at every step
    assert all(alts[tok] == max(alts.values()) for tok, alts in greedy.logprobs)


class ScriptedBackend:
    """A backend whose every conversation gets `tokens(conv)`: (token, top alternatives) pairs."""

    def tokens(self, conv: list[dict[str, str]]) -> list[tuple[str, dict[str, float]]]:
        raise NotImplementedError

    def generate(self, convs, params):  # noqa: ANN001, ANN201
        from j1.backends.base import Generation, Sample

        self.params, out = params, []
        for conv in convs:
            toks = self.tokens(conv)
            text = "".join(t for t, _ in toks)
            out.append(Generation("p", 1, [Sample(text, len(toks), "stop", toks)] * params.n))
        return out

    def close(self) -> None:
        pass


def scripted_eval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: ScriptedBackend, rows: list[dict], *sets: str
) -> Path:
    """`j1 eval` of `rows` (the pairs benchmark) with `backend` as the judge."""
    import json

    import j1.backends
    from j1.config import load_config
    from j1.eval.run import EvalConfig, run

    monkeypatch.setattr(j1.backends, "make_backend", lambda *a, **k: backend)
    monkeypatch.setattr("j1.eval.run.resolve_model", lambda m: m)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = [f"out={tmp_path / 'out'}", "judge.name=scripted", f"benchmarks=[pairs={pairs}]", "baselines=[]"]
    return run(load_config(EvalConfig, None, [*base, *sets]))


def math_rows(n: int) -> list[dict]:
    return [
        {"id": f"p{i}", "source": "math", "prompt": f"{i}?", "chosen": "right", "rejected": "wrong"}
        for i in range(n)
    ]


class VerdictABackend(ScriptedBackend):
    """Always "[[A]]" with P(A) = 0.8 at the verdict token."""

    def tokens(self, conv):  # noqa: ANN001, ANN201
        return [
            ("<think>t</think><answer>", {}),
            ("[[", {}),
            ("A", {"A": LN(0.8), "B": LN(0.2)}),
            ("]]</answer>", {}),
        ]


def test_eval_reports_calibration_of_soft_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    backend = VerdictABackend()
    out = scripted_eval(tmp_path, monkeypatch, backend, math_rows(5), "judge.logprobs=4")
    assert backend.params.logprobs == 4
    cal = json.loads((out / "report.json").read_text())["benchmarks"]["pairs"]["calibration"]
    # always A at 0.8: right in ab with P(chosen) 0.8, wrong in ba with P(chosen) 0.2
    assert cal["n"] == 10 and cal["ece"] == pytest.approx(0.3) and cal["brier"] == pytest.approx(0.34)
    assert all(
        json.loads(x)["p_a"] == pytest.approx(0.8)
        for x in (out / "predictions.jsonl").read_text().splitlines()
    )
    assert "calibration of P(verdict)" in (out / "report.md").read_text()
    assert (out / "calibration_pairs.png").stat().st_size > 1000


class PointwiseBackend(ScriptedBackend):
    """Scores "right" 8 (P 0.9, else 3) and "wrong" 3 (P 0.6, else 8)."""

    def tokens(self, conv):  # noqa: ANN001, ANN201
        right = "right" in conv[-1]["content"].split("[The Start of the Assistant's Answer]")[-1]
        value, other, p = ("8", "3", 0.9) if right else ("3", "8", 0.6)
        return [
            ("<think>t</think><score>", {}),
            (value, {value: LN(p), other: LN(1 - p)}),
            ("</score>", {}),
        ]


def test_eval_pointwise_expected_scores_and_win_probability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    row = {"id": "p0", "source": "chat", "prompt": "Say hi.", "chosen": "right", "rejected": "wrong"}
    sets = ["judge.format=pointwise", "judge.logprobs=2"]
    out = scripted_eval(tmp_path, monkeypatch, PointwiseBackend(), [row], *sets)
    preds = {r["order"]: r for r in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())}
    # right: 8 x 0.9 + 3 x 0.1 = 7.5; wrong: 3 x 0.6 + 8 x 0.4 = 5.0
    # P(right > wrong) = 0.9 x 0.6 + 0.5 x (0.9 x 0.4 + 0.1 x 0.6) = 0.54 + 0.21 = 0.75
    assert preds["ab"]["expected_scores"] == pytest.approx({"A": 7.5, "B": 5.0})
    assert preds["ab"]["p_a"] == pytest.approx(0.75) and preds["ba"]["p_a"] == pytest.approx(0.25)
    assert preds["ab"]["scores"] == {"A": 8.0, "B": 3.0}
    cal = json.loads((out / "report.json").read_text())["benchmarks"]["pairs"]["calibration"]
    assert cal["n"] == 2 and cal["brier"] == pytest.approx(0.0625)


class DirectBackend(ScriptedBackend):
    """The judge that does not think: continues its prefill with the letter of the response that holds
    "right" (P 0.7), then rambles on with a later, different verdict that must not count."""

    def tokens(self, conv):  # noqa: ANN001, ANN201
        assert conv[-1] == {"role": "assistant", "content": "<answer>[["}, conv[-1]
        a = conv[0]["content"].split("[The Start of Assistant B's Answer]")[0]
        side, other = (
            ("A", "B") if "right" in a.split("[The Start of Assistant A's Answer]")[-1] else ("B", "A")
        )
        return [
            (side, {side: LN(0.7), other: LN(0.3)}),
            (f"]]</answer> <answer>[[{other}]]</answer>", {}),
        ]


def test_eval_direct_format_reads_the_prefilled_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    sets = ["judge.format=pairwise_verdict_direct", "judge.logprobs=2"]
    out = scripted_eval(tmp_path, monkeypatch, DirectBackend(), math_rows(3), *sets)
    report = json.loads((out / "report.json").read_text())["benchmarks"]["pairs"]
    assert report["parse_fail_rate"] == 0.0 and report["consistent_accuracy"] == 100.0, report
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert {p["order"]: p["p_a"] for p in preds if p["item_id"] == "p0"} == pytest.approx(
        {"ab": 0.7, "ba": 0.3}
    )
