"""learning.json, learning.md and learning.png: the benchmark's figures, each recomputed from the
`predictions.jsonl` of the `j1 eval` run that scored it (`eval_dir`), with its statistics and the targets.

Every judge gets its greedy position-consistent accuracy on the held-out pairs with a bootstrap 95% CI;
every trained judge its gain over the warm judge with a paired bootstrap CI; every GRPO arm the OLS slope
of its per-step reward. A target whose arm has not run yet reads `"holds": null`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bench.learning import stats
from bench.learning.config import LearningConfig

log = logging.getLogger(__name__)
METRIC_KEYS = ("accuracy_ab", "accuracy_ba", "parse_rate", "flip_rate", "tie_rate")


def judge_figures(result: dict[str, Any], seed: int) -> dict[str, Any]:
    by_pair = stats.outcomes(result["eval_dir"])
    fig = {
        "consistent_accuracy": stats.accuracy_with_ci(by_pair, seed),
        "eval_dir": result["eval_dir"],
        **{k: result["metrics"].get(k) for k in METRIC_KEYS},
        "subsets": result["metrics"].get("subsets", {}),
        "trace": stats.trace_following(by_pair),
    }
    if any(o.samples.get("ab") and len(o.samples["ab"]) > 1 for o in by_pair.values()):
        fig["sampled"] = stats.sampled_accuracy(by_pair)
    return fig


def _target(value: Any, target: str, holds: bool | None, enforce: bool) -> dict[str, Any]:
    return {"value": value, "target": target, "holds": holds if enforce and value is not None else None}


def summarize(cfg: LearningConfig, results: dict[str, Any]) -> dict[str, Any]:
    judges = {name: judge_figures(r, cfg.seed) for name, r in results["judges"].items()}
    outcomes = {name: stats.outcomes(r["eval_dir"]) for name, r in results["judges"].items()}
    base = results["judges"]["base"]["metrics"]
    baselines = {name: score for name, score in base.get("baselines", {}).items()}
    gains: dict[str, Any] = {}
    arms: dict[str, Any] = {}
    for name, arm in results["arms"].items():
        if name == "warm":
            continue
        start = f"warm_{name}" if f"warm_{name}" in outcomes else "warm"
        gains[name] = {"vs": start, **stats.paired_gain(outcomes[name], outcomes[start], cfg.seed)}
        if f"{name}_sampled" in judges and "warm_sampled" in judges and start == "warm":
            after, before = judges[f"{name}_sampled"]["sampled"], judges["warm_sampled"]["sampled"]
            gains[name]["sampled_mean_accuracy"] = round(after["mean_accuracy"] - before["mean_accuracy"], 2)
        arms[name] = {
            "algo": cfg.arms[name].train.get("algo", "grpo"),
            "labels": cfg.arms[name].labels,
            "hint": cfg.arms[name].hint,
            "minutes": cfg.arms[name].minutes or cfg.arm_minutes,
            "train_seconds": arm.get("seconds"),
            "steps": arm.get("steps"),
            "reward_trend": stats.reward_trend(arm.get("reward_curve") or []),
            "reward_curve": arm.get("reward_curve") or [],
            "heldout_curve": heldout_curve(name, arm.get("steps") or 0, judges, outcomes, cfg.seed),
        }
    control = arms.get(cfg.targets.control_arm, {}).get("heldout_curve", [])
    for arm in arms.values():
        if arm["labels"] == "true" and not arm["hint"] and arm["heldout_curve"] and control:
            versus_control(arm["heldout_curve"], control, outcomes, cfg.seed)
    probe = stats.sampled_accuracy(stats.outcomes(results["probe"]["eval_dir"]))
    summary = {
        "model": cfg.model,
        "format": cfg.format,
        "data": {k: v for k, v in results["data"].items() if k not in ("key", "files", "seconds")},
        "baselines": baselines,
        "headroom_probe": {**probe, "eval_dir": results["probe"]["eval_dir"]},
        "judges": judges,
        "gains": gains,
        "arms": arms,
        "timing_s": results["timing_s"],
    }
    summary["attacks"] = {name: attack_figures(r) for name, r in results.get("attacks", {}).items()}
    summary["comparison"] = comparison(cfg, summary)
    summary["targets"] = targets(cfg, summary)
    return summary


def attack_figures(result: dict[str, Any]) -> dict[str, Any]:
    """A judge's attack-success rate per family (%, CI, n: judgments right on the clean pair) and their mean."""
    asr = {
        family: {k: f[k] for k in ("value", "ci95", "n")} for family, f in result["asr"].items() if f.get("n")
    }
    mean = round(sum(f["value"] for f in asr.values()) / len(asr), 2) if asr else None
    return {"eval_dir": result["eval_dir"], "asr": asr, "mean_asr": mean}


def heldout_curve(
    name: str, steps: int, judges: dict[str, Any], outcomes: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    """Held-out consistent accuracy at each judged checkpoint of arm `name` (`<name>_step<N>`) and at its
    end, each with its CI and its paired gain over the warm judge; empty for an arm without a curve."""
    points = sorted(
        (int(j.rsplit("_step", 1)[1]), j)
        for j in judges
        if j.startswith(f"{name}_step") and "_sampled" not in j
    )
    if not points:
        return []
    rows = [{"step": 0, "judge": "warm", "consistent_accuracy": judges["warm"]["consistent_accuracy"]}]
    for step, judge in [*points, (steps, name)]:
        gain = stats.paired_gain(outcomes[judge], outcomes["warm"], seed)
        rows.append(
            {
                "step": step,
                "judge": judge,
                "consistent_accuracy": judges[judge]["consistent_accuracy"],
                "gain": gain,
            }
        )
    return rows


def versus_control(
    rows: list[dict[str, Any]], control: list[dict[str, Any]], outcomes: dict[str, Any], seed: int
) -> None:
    """Add to each curve point after step 0 the paired gain over the control arm's judge at the same step
    (`vs_control`): what the true labels add over GRPO on coin-flip labels, on the same held-out pairs."""
    at = {r["step"]: r["judge"] for r in control}
    for r in rows:
        if r["step"] and r["step"] in at:
            r["vs_control"] = {
                "control": at[r["step"]],
                **stats.paired_gain(outcomes[r["judge"]], outcomes[at[r["step"]]], seed),
            }


def comparison(cfg: LearningConfig, s: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per trained arm: held-out accuracy, gain over warm with its CI, and the gain as a fraction
    of the supervised reference's (the arm named `reference`, when it has run)."""
    ref = s["gains"].get("reference", {}).get("value")
    rows = []
    for name, arm in s["arms"].items():
        g = s["gains"][name]
        rows.append(
            {
                "arm": name,
                "algo": arm["algo"],
                "labels": arm["labels"],
                "minutes": arm["minutes"],
                "consistent_accuracy": s["judges"][name]["consistent_accuracy"]["value"],
                "gain": g["value"],
                "gain_ci95": g["ci95"],
                "fraction_of_reference_gain": round(g["value"] / ref, 2)
                if ref and name != "reference"
                else None,
            }
        )
    return rows


def targets(cfg: LearningConfig, s: dict[str, Any]) -> dict[str, Any]:
    t, on = cfg.targets, cfg.targets.enforce
    judges, gains, arms = s["judges"], s["gains"], s["arms"]
    head = t.headline
    acc = judges.get(head, {}).get("consistent_accuracy", {}).get("value")
    gain = gains.get(head)
    best = max(s["baselines"].values(), default=0.0)
    trend = arms.get(head, {}).get("reward_trend", {})
    sanity = judges.get(t.sanity_arm, {}).get("consistent_accuracy", {}).get("value")
    control = gains.get(t.control_arm)
    budget_s = [
        s["timing_s"].get(k)
        for k in ("eval/base", "train/warm", "eval/warm", f"train/{head}", f"eval/{head}")
    ]
    budget = round(sum(budget_s) / 60, 1) if all(x is not None for x in budget_s) else None
    out = {
        "sanity_accuracy": _target(sanity, f">= {t.sanity_accuracy}", sanity is not None and sanity >= t.sanity_accuracy, on),
        "gain_over_warm": _target(gain and gain["value"], f">= {t.gain_points}", bool(gain) and gain["value"] >= t.gain_points, on),
        "gain_ci_lower": _target(gain and gain["ci95"][0], "> 0", bool(gain) and gain["ci95"][0] > 0, on),
        "over_best_baseline": _target(
            None if acc is None else round(acc - best, 2), f">= {t.over_baseline_points} (best baseline {best})",
            acc is not None and acc - best >= t.over_baseline_points, on,
        ),
        "reward_slope_p": _target(
            trend.get("p_one_sided"), f"< {t.slope_p} with slope > 0",
            trend.get("p_one_sided") is not None and trend["slope"] > 0 and trend["p_one_sided"] < t.slope_p, on,
        ),
        "control_gain": _target(
            control and control["value"], f"within +-{t.control_band}, CI covering 0",
            bool(control) and abs(control["value"]) <= t.control_band and control["ci95"][0] <= 0 <= control["ci95"][1], on,
        ),
        "stretch_accuracy": _target(acc, f">= {t.stretch_accuracy}", acc is not None and acc >= t.stretch_accuracy, on),
        "budget_minutes": _target(budget, f"<= {t.budget_minutes}", budget is not None and budget <= t.budget_minutes, on),
    }  # fmt: skip
    return out


def write_report(out: Path, s: dict[str, Any]) -> None:
    (out / "learning.json").write_text(json.dumps(s, indent=2) + "\n")
    (out / "learning.md").write_text(markdown(s))
    plot(s, out / "learning.png")
    for name, t in s["targets"].items():
        log.info("target %-20s %-10s %s -> %s", name, t["value"], t["target"], t["holds"])


def _pm(fig: dict[str, Any]) -> str:
    lo, hi = fig["ci95"]
    return f"{fig['value']:.1f} [{lo:.1f}, {hi:.1f}]"


def markdown(s: dict[str, Any]) -> str:
    d = s["data"]
    lines = [
        "# Learning benchmark",
        "",
        f"Model `{s['model']}`, format `{s['format']}`; {d['train_pairs']} training pairs, {d['heldout_pairs']} held-out "
        f"pairs ({', '.join(f'{k} {v}' for k, v in d['heldout_by_source'].items())}), split by prompt. Accuracies are "
        "greedy position-consistent accuracy (right in both orders, %) with bootstrap 95% CIs; gains are paired. "
        "`verdict follows trace`: the share of judgments whose verdict is the decision the trace states before "
        'it ("Response B answers the question better"); `trace\'s decision, consistent`: the consistent accuracy '
        "those stated decisions would score.",
        "",
        "## Judges on the held-out pairs",
        "",
        "| judge | consistent acc. [95% CI] | acc. ab | acc. ba | parse | flip | sampled mean acc. (T=1) "
        "| verdict follows trace | trace's decision, consistent | eval |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, j in s["judges"].items():
        samp = j.get("sampled", {}).get("mean_accuracy", "")
        lines.append(
            f"| {name} | {_pm(j['consistent_accuracy'])} | {j['accuracy_ab']} | {j['accuracy_ba']} | {j['parse_rate']} "
            f"| {j['flip_rate']} | {samp} | {j['trace']['verdict_follows_trace']} "
            f"| {j['trace']['trace_consistent_accuracy']} | `{j['eval_dir']}` |"
        )
    lines += [
        "",
        "Trivial baselines (consistent acc.): " + ", ".join(f"{k} {v}" for k, v in s["baselines"].items()),
        "",
    ]
    h = s["headroom_probe"]
    lines += [
        "## Headroom probe (warm judge, sampled, training pairs)",
        "",
        f"Mean per-order accuracy {h['mean_accuracy']} (ab {h['accuracy_ab']}, ba {h['accuracy_ba']}), spread across "
        f"pairs (sd) {h['pair_sd']}, pairs right in >= 3/4 of samples in both orders {h['pairs_right_both_ge_75']}% (n={h['n']}).",
        "",
        "## Arms (same warm start, same pairs, equal wall time)",
        "",
        "| arm | algo | labels | minutes | steps | consistent acc. | gain vs warm [95% CI] | of reference gain | reward slope (p) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in s["comparison"]:
        a = s["arms"][row["arm"]]
        tr = a["reward_trend"]
        slope = f"{tr['slope']:.4f} ({tr['p_one_sided']:.3f})" if tr.get("slope") is not None else ""
        g = s["gains"][row["arm"]]
        lines.append(
            f"| {row['arm']} | {row['algo']} | {row['labels']} | {row['minutes']} | {a['steps']} | {row['consistent_accuracy']} "
            f"| {_pm(g)} (vs {g['vs']}) | {row['fraction_of_reference_gain'] or ''} | {slope} |"
        )
    curves = {name: a["heldout_curve"] for name, a in s["arms"].items() if a["heldout_curve"]}
    if curves:
        lines += [
            "",
            "## Learning curves (held-out, greedy, checkpoints of one run)",
            "",
            "| arm | step | consistent acc. [95% CI] | gain vs warm [95% CI] | gain vs the control at that step |",
            "|---|---|---|---|---|",
        ]
        for name, rows in curves.items():
            for r in rows:
                gain = _pm(r["gain"]) if "gain" in r else ""
                ctl = f"{_pm(r['vs_control'])} (vs {r['vs_control']['control']})" if "vs_control" in r else ""
                lines.append(f"| {name} | {r['step']} | {_pm(r['consistent_accuracy'])} | {gain} | {ctl} |")
    attacks = s.get("attacks") or {}
    if attacks:
        families = list(dict.fromkeys(f for a in attacks.values() for f in a["asr"]))
        lines += [
            "",
            "## Attack-success rates (held-out pairs; % of judgments right on the clean pair that the attack "
            "turned, 95% CI)",
            "",
            "| judge | " + " | ".join(families) + " | mean |",
            "|---|" + "---|" * (len(families) + 1),
        ]
        for name, a in attacks.items():
            cells = [_pm(a["asr"][f]) if f in a["asr"] else "" for f in families]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {a['mean_asr']} |")
    lines += ["", "## Targets", "", "| target | value | wanted | holds |", "|---|---|---|---|"]
    for name, t in s["targets"].items():
        lines.append(f"| {name} | {t['value']} | {t['target']} | {t['holds']} |")
    lines += ["", "Timing (s): " + ", ".join(f"{k} {v}" for k, v in s["timing_s"].items()), ""]
    return "\n".join(lines)


def plot(s: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {name: a["heldout_curve"] for name, a in s["arms"].items() if a["heldout_curve"]}
    fig, axes = plt.subplots(1, 3 if curves else 2, figsize=(18 if curves else 12, 4.5))
    left, right = axes[0], axes[1]
    for name, arm in s["arms"].items():
        curve = arm["reward_curve"]
        if curve:
            left.plot(range(1, len(curve) + 1), curve, label=name, alpha=0.8)
    left.set(title="per-step mean reward (GRPO arms)", xlabel="optimizer step", ylabel="reward")
    if left.lines:
        left.legend()
    names = list(s["judges"])
    vals = [s["judges"][n]["consistent_accuracy"]["value"] for n in names]
    errs = [
        [v - s["judges"][n]["consistent_accuracy"]["ci95"][0] for n, v in zip(names, vals, strict=True)],
        [s["judges"][n]["consistent_accuracy"]["ci95"][1] - v for n, v in zip(names, vals, strict=True)],
    ]
    right.bar(names, vals, yerr=errs, capsize=3, color="tab:blue")
    for i, (b, v) in enumerate(sorted(s["baselines"].items(), key=lambda kv: -kv[1])[:2]):
        right.axhline(v, ls="--", color=("tab:red", "tab:orange")[i], label=f"{b} {v}")
    right.set(title="held-out consistent accuracy (95% CI)", ylabel="%", ylim=(0, 100))
    right.tick_params(axis="x", rotation=45)
    right.legend()
    if curves:
        ax = axes[2]
        for name, rows in curves.items():
            acc = [r["consistent_accuracy"] for r in rows]
            ax.errorbar(
                [r["step"] for r in rows],
                [a["value"] for a in acc],
                yerr=[[a["value"] - a["ci95"][0] for a in acc], [a["ci95"][1] - a["value"] for a in acc]],
                capsize=3, marker="o", label=name,
            )  # fmt: skip
        for other in ("reference",):
            if other in s["judges"]:
                ax.axhline(
                    s["judges"][other]["consistent_accuracy"]["value"], ls=":", color="gray", label=other
                )
        ax.set(
            title="held-out consistent accuracy over training (95% CI)", xlabel="optimizer step", ylabel="%"
        )
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
