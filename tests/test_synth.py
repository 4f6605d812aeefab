"""j1 synth: sources, journal, both recipes end to end with a scripted generator, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from j1 import J1Error
from j1.backends import Backend, Generation, Sample, SamplingParams
from j1.config import load_config
from j1.data_synthesis import run as synth_run
from j1.data_synthesis.journal import Journal
from j1.data_synthesis.procedural import generate_problems
from j1.data_synthesis.run import SynthConfig
from j1.data_synthesis.sources import SourceConfig, gsm8k_answer, last_boxed, math_items

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


class ScriptedBackend(Backend):
    """Answers procedural math with one right and three wrong boxed answers (one unboxed and truncated),
    rewrites instructions by appending a twist, and answers instructions by echoing them."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers, self.calls = answers, 0

    def render(self, conv, index=0):  # noqa: ANN001
        return json.dumps(conv)

    def generate(self, convs, params: SamplingParams) -> list[Generation]:
        self.calls += 1
        out = []
        for conv in convs:
            user = conv[-1]["content"]
            if user in self.answers:
                ref = int(self.answers[user])
                texts = [
                    f"So \\boxed{{{ref}}}.",
                    f"So \\boxed{{{ref + 1}}}.",
                    f"So \\boxed{{{ref + 2}}}.",
                    "Let me think",
                ]
                samples = [
                    Sample(t, 5, "length" if t == "Let me think" else "stop") for t in texts[: params.n]
                ]
            elif "[Instruction]" in user:
                x = re.search(r"\[Instruction\]\n(.*)\n\[End of Instruction\]", user, re.S).group(1)
                samples = [Sample(f"New instruction: {x} But answer in French.", 9, "stop")]
            else:
                samples = [Sample(f"Answer to: {user}", 7, "stop")]
            out.append(Generation(json.dumps(conv), 3, samples))
        return out


@pytest.fixture()
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedBackend:
    answers = {r["question"]: r["answer"] for r in generate_problems(200, 0)}
    backend = ScriptedBackend(answers)
    monkeypatch.setattr(synth_run, "make_backend", lambda name, model, **kw: backend)
    monkeypatch.setattr(synth_run, "resolve_model", lambda m: m)
    return backend


def small_cfg(tmp_path: Path, *extra: str) -> SynthConfig:
    return load_config(
        SynthConfig,
        None,
        [
            f"out={tmp_path / 'out'}",
            "math.procedural_count=10",
            "chunk_size=4",
            "chat.sources=[{name: e, limit: 6}]",
            *extra,
        ],
    )


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_both_recipes_make_verified_pairs(tmp_path: Path, scripted: ScriptedBackend) -> None:
    out = synth_run.run(small_cfg(tmp_path))
    pairs = read(out / "pairs.jsonl")
    math = [p for p in pairs if p["source"] == "math"]
    chat = [p for p in pairs if p["source"] == "chat"]
    assert len(math) == 10 and len(chat) == 6
    for p in math:
        assert last_boxed(p["chosen"]) == p["reference_answer"] != last_boxed(p["rejected"])
        assert (
            p["meta"]["chosen_verdict"]["correct"] is True
            and p["meta"]["rejected_verdict"]["correct"] is False
        )
        assert set(p) == {"id", "source", "prompt", "chosen", "rejected", "reference_answer", "meta"}
    for p in chat:
        assert p["chosen"] == f"Answer to: {p['prompt']}"
        assert p["rejected"] == f"Answer to: {p['meta']['noisy_instruction']}" and "French" in p["rejected"]
    assert len({p["id"] for p in pairs}) == len(pairs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["counts"]["math"]["pairs"] == 10 and manifest["counts"]["math"]["truncated"] == 10
    assert manifest["counts"]["total_pairs"] == 16


def test_adversarial_twins_are_attacked_recorded_and_off_by_default(
    tmp_path: Path, scripted: ScriptedBackend
) -> None:
    plain = read(synth_run.run(small_cfg(tmp_path / "plain")) / "pairs.jsonl")
    assert not any("attack" in p["meta"] for p in plain)
    out = synth_run.run(
        small_cfg(
            tmp_path / "adv", "adversarial.share=0.5", "adversarial.families=[master_key, fake_verdict]"
        )
    )
    pairs = read(out / "pairs.jsonl")
    twins = [p for p in pairs if "attack" in p["meta"]]
    originals = {p["id"]: p for p in pairs if "attack" not in p["meta"]}
    assert originals.keys() == {p["id"] for p in plain}  # the original pairs are untouched
    assert 0 < len(twins) < len(originals)
    for t in twins:
        src = originals[t["meta"]["attacked_from"]]
        assert t["meta"]["attack"] in ("master_key", "fake_verdict")
        assert (t["prompt"], t["chosen"]) == (src["prompt"], src["chosen"]) and t["rejected"] != src[
            "rejected"
        ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["math"]["adversarial"] + manifest["counts"]["chat"].get(
        "adversarial", 0
    ) == len(twins)
    with pytest.raises(J1Error, match="unknown attack family 'flattery'"):
        synth_run.run(small_cfg(tmp_path / "bad", "adversarial.share=0.5", "adversarial.families=[flattery]"))
    with pytest.raises(J1Error, match="adversarial.share=2"):
        synth_run.run(small_cfg(tmp_path / "bad2", "adversarial.share=2"))


def test_mix_caps_samples_and_the_dry_run_plan(tmp_path: Path, scripted: ScriptedBackend) -> None:
    """The paper's mix: a seeded sample of a source's rows and a cap on a recipe's pairs, taken in a seeded
    order (not a prefix); a capped run resumes to the same file; --dry-run counts without an engine."""
    sets = ["math.max_pairs=3", "chat.sources=[{name: e, limit: 6, sample: 4}]"]
    plan = synth_run.plan(small_cfg(tmp_path / "plan", *sets))
    assert plan["items"] == {"math": 10, "chat": 4} and plan["generations"] == {"math": 40, "chat": 12}
    assert not (tmp_path / "plan" / "out").exists() and scripted.calls == 0  # nothing generated or written
    out = synth_run.run(small_cfg(tmp_path / "cap", *sets))
    pairs = read(out / "pairs.jsonl")
    math = [p for p in pairs if p["source"] == "math"]
    assert len(math) == 3 and len([p for p in pairs if p["source"] == "chat"]) == 4
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["math"]["capped"] == 10 - 4  # one chunk of 4 problems gave >= 3 pairs; 6 never generated
    first_prompts = [p["prompt"] for p in read(synth_run.run(small_cfg(tmp_path / "plain")) / "pairs.jsonl")]
    assert [p["prompt"] for p in math] != first_prompts[:3]  # a seeded order, not the first problems
    calls = scripted.calls
    synth_run.run(small_cfg(tmp_path / "cap", *sets))  # resumed: the cap is already met
    assert scripted.calls == calls and read(out / "pairs.jsonl") == pairs
    with pytest.raises(J1Error, match="max_pairs=0"):
        synth_run.run(small_cfg(tmp_path / "bad", "math.max_pairs=0"))


def test_rerun_is_a_no_op_and_deterministic(tmp_path: Path, scripted: ScriptedBackend) -> None:
    out = synth_run.run(small_cfg(tmp_path))
    first = (out / "pairs.jsonl").read_bytes()
    calls = scripted.calls
    synth_run.run(small_cfg(tmp_path))
    assert (out / "pairs.jsonl").read_bytes() == first and scripted.calls == calls
    other = synth_run.run(small_cfg(tmp_path / "again"))
    assert (other / "pairs.jsonl").read_bytes() == first  # same seed, same pairs


def test_resume_after_a_crash_mid_chunk(tmp_path: Path, scripted: ScriptedBackend, monkeypatch) -> None:
    """Kill after two committed chunks while a third is half-written: rerun -> nothing lost, nothing twice."""
    reference = read(synth_run.run(small_cfg(tmp_path / "ref")) / "pairs.jsonl")
    commits = {"n": 0}
    real_commit = Journal.commit

    def dying_commit(self, records, items):  # noqa: ANN001
        if commits["n"] == 2:
            with open(self.paths["pairs.jsonl"], "a") as f:
                f.write(json.dumps(records["pairs.jsonl"][0]) + "\n" + '{"torn": ')  # uncommitted tail
            raise KeyboardInterrupt
        commits["n"] += 1
        real_commit(self, records, items)

    monkeypatch.setattr(Journal, "commit", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        synth_run.run(small_cfg(tmp_path))
    monkeypatch.setattr(Journal, "commit", real_commit)
    out = synth_run.run(small_cfg(tmp_path))
    pairs = read(out / "pairs.jsonl")
    assert sorted(p["id"] for p in pairs) == sorted(p["id"] for p in reference)


def test_no_pair_problems_are_rejected_with_reasons(tmp_path: Path, scripted: ScriptedBackend) -> None:
    out = synth_run.run(small_cfg(tmp_path, "math.samples=1", "chat.enabled=false"))
    rejects = read(out / "rejects.jsonl")
    assert len(rejects) == 10 and {r["reason"] for r in rejects} == {"no_wrong"}
    assert not (out / "pairs.jsonl").read_text()


def test_sources_read_public_formats() -> None:
    assert last_boxed(r"so $\boxed{\frac{1}{2}}$ and") == r"\frac{1}{2}"
    assert gsm8k_answer("... so 72.\n#### 1,072") == "1072"
    if not SHARED.exists():
        pytest.skip("../shared/data is absent")
    src = SourceConfig(
        name="m",
        path=str(SHARED / "math/math_train.jsonl"),
        fields={"question": "problem", "answer": "solution"},
        answer_format="boxed",
        limit=5,
    )
    items = list(math_items(src, list, lambda e: (_ for _ in ()).throw(e)))
    assert len(items) == 5 and all(it.reference for it in items)
    gsm = SourceConfig(name="g", path=str(SHARED / "gsm8k/train.jsonl"), answer_format="gsm8k", limit=3)
    assert [it.reference for it in math_items(gsm, list, print)][0] == "72"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "1+1?", "answer": "2"}\n{"question": "2+2?"\n', "bad.jsonl:2: invalid JSON"),
        (
            '{"question": "1+1?", "answer": "2"}\n{"question": "2+2?"}\n',
            "bad.jsonl:2: missing field 'answer'",
        ),
        (b'{"question": "caf\xe9", "answer": "1"}\n', "bad.jsonl:1: not UTF-8"),
        ("", "bad.jsonl: the file is empty"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, scripted, content, message) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    cfg = small_cfg(tmp_path, f"math.sources=[{{name: bad, path: {bad}}}]", "chat.enabled=false")
    with pytest.raises(J1Error, match=re.escape(message)):
        synth_run.run(cfg)
    assert scripted.calls == 0  # nothing generated before the data was validated


def test_skip_bad_counts_rows(tmp_path: Path, scripted) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "What is 10 + 20?", "answer": "30"}\n{"question": "no answer"}\n')
    cfg = small_cfg(
        tmp_path, f"math.sources=[{{name: bad, path: {bad}}}]", "chat.enabled=false", "skip_bad=true"
    )
    out = synth_run.run(cfg)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["bad_rows"] == 1 and "missing field 'answer'" in counts["bad_row_examples"][0]


def test_procedural_levels_and_kinds_narrow_the_mix() -> None:
    from j1.data_synthesis.procedural import KINDS

    assert [r["question"] for r in generate_problems(30, 0, [1, 2, 3])] == [
        r["question"] for r in generate_problems(30, 0)
    ]  # all levels named = the default mix
    rows = generate_problems(60, 0, levels=[1], kinds=["add", "mul"])
    assert {r["type"] for r in rows} == {"add", "mul"} and {r["level"] for r in rows} == {"Level 1"}
    assert all(KINDS[r["type"]][0] == 1 for r in rows)
    assert {r["type"] for r in generate_problems(20, 0, levels=[2])} <= {
        "story_add",
        "story_share",
        "percent",
    }
    with pytest.raises(J1Error, match="valid kinds: add, sub, mul"):
        generate_problems(5, 0, kinds=["div"])
    with pytest.raises(J1Error, match="valid levels"):
        generate_problems(5, 0, levels=[4])
    with pytest.raises(J1Error, match="hold none"):
        generate_problems(5, 0, levels=[1], kinds=["linear"])
    with pytest.raises(J1Error, match="distinct problems"):
        generate_problems(300, 0, kinds=["mul"])  # 17 x 10 distinct products


def test_pair_length_ratio_pairs_responses_of_similar_length(
    tmp_path: Path, scripted: ScriptedBackend
) -> None:
    from j1.data_synthesis.math_pairs import length_ratio, match_samples

    sample = lambda text: (Sample(text, 1, "stop"), None)  # noqa: E731
    right = [sample("x" * 100), sample("x" * 10)]
    wrong = [sample("y" * 11), sample("y" * 300)]
    assert [(c[0].text, w[0].text) for c, w in match_samples(right, wrong, 2, None)] == [
        ("x" * 100, "y" * 11), ("x" * 10, "y" * 300)
    ]  # fmt: skip
    assert [(len(c[0].text), len(w[0].text)) for c, w in match_samples(right, wrong, 2, 1.5)] == [(10, 11)]
    assert length_ratio("ab", "abcd") == length_ratio("abcd", "ab") == 2.0  # blind to which side is right
    # end to end: the scripted answers "So \\boxed{12}." (right) and "So \\boxed{13}." are within any bound
    out = synth_run.run(small_cfg(tmp_path, "math.pair_length_ratio=1.0", "chat.enabled=false"))
    pairs = read(out / "pairs.jsonl")
    assert pairs and all(len(p["chosen"]) == len(p["rejected"]) for p in pairs)
    with pytest.raises(J1Error, match="pair_length_ratio"):
        synth_run.run(small_cfg(tmp_path, "math.pair_length_ratio=0.5"))


def test_shipped_recipes_load() -> None:
    recipes = sorted((ROOT / "data_synthesis" / "recipes").glob("*.yaml"))
    assert len(recipes) >= 3
    for path in recipes:
        assert path.read_text().startswith(f"# j1 synth --recipe data_synthesis/recipes/{path.name}")
        load_config(SynthConfig, path)
    assert load_config(SynthConfig, ROOT / "data_synthesis/recipes/default.yaml") == SynthConfig()


def test_sigkill_then_rerun_loses_and_duplicates_nothing(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A real `j1 synth` process (hf backend, tiny model) killed with SIGKILL after its first commit; the
    rerun's output is identical to an uninterrupted run's (the hf backend seeds per chunk)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def cmd(out: Path) -> list[str]:
        sets = [
            "math.procedural_count=24",
            "math.samples=2",
            "math.max_tokens=24",
            "chunk_size=4",
            "chat.sources=[{name: e, limit: 12}]",
            "chat.max_tokens=12",
            "chat.noisy_max_tokens=12",
            "chat.response_checks=[]",
            "chat.noisy_checks=[]",
            "generator.options.dtype=float32",
        ]
        args = [
            sys.executable,
            "-m",
            "j1",
            "synth",
            "--backend",
            "hf",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
        ]
        return args + [x for s in sets for x in ("--set", s)]

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    ref = tmp_path / "ref"
    subprocess.run(cmd(ref), check=True, capture_output=True, env=env, timeout=300)
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not (
        (out / "progress.jsonl").exists() and (out / "progress.jsonl").read_text()
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = len((out / "progress.jsonl").read_text().splitlines())
    assert 1 <= committed < 9, "the kill should land mid-run"
    subprocess.run(cmd(out), check=True, capture_output=True, env=env, timeout=300)
    for name in ("pairs.jsonl", "rejects.jsonl"):
        assert (out / name).read_text() == (ref / name).read_text()
    assert len(read(ref / "pairs.jsonl")) > 0 and len(read(ref / "rejects.jsonl")) > 0


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("New instruction: Write a haiku about summer.", "Write a haiku about summer."),
        (
            "[Instruction]\nWrite a limerick about a dog.\n[End of Instruction]",
            "Write a limerick about a dog.",
        ),
        ('"List four fruits high in iron."\nThis changes the nutrient.', "List four fruits high in iron."),
        ("[Definition]", ""),
        ("   ", ""),
    ],
)
def test_clean_instruction(raw: str, clean: str) -> None:
    from j1.data_synthesis.filters import clean_instruction

    assert clean_instruction(raw) == clean
