"""Reports of `j1 eval`: report.json (per benchmark: score, metric, subsets, rates), report.md (tables), PNG bar plots, and the
side-by-side comparison of two report folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATS = ("score", "n", "consistent_accuracy", "flip_rate", "tie_rate", "parse_fail_rate")


def fmt(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value) if value is not None else "-"


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# j1 eval — judge `{report['judge']['name']}`", ""]
    lines += ["| benchmark | score | n | acc (ab) | acc (ba) | consistent | flip | tie | parse fail |"]
    lines += ["|---|---|---|---|---|---|---|---|---|"]
    for name, b in report["benchmarks"].items():
        po = b.get("per_order", {})
        row = [name, fmt(b["score"]), fmt(b["n"]), fmt(po.get("ab")), fmt(po.get("ba"))]
        row += [fmt(b.get(k)) for k in ("consistent_accuracy", "flip_rate", "tie_rate", "parse_fail_rate")]
        lines.append("| " + " | ".join(row) + " |")
    if report.get("baselines"):
        lines += ["", "## Baselines (official score)", ""]
        names = list(report["baselines"])
        lines += ["| benchmark | judge | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
        for bench, b in report["benchmarks"].items():
            cells = [fmt(report["baselines"][n]["benchmarks"].get(bench, {}).get("score")) for n in names]
            lines.append(f"| {bench} | {fmt(b['score'])} | " + " | ".join(cells) + " |")
    for name, b in report["benchmarks"].items():
        if b.get("asr"):
            lines += ["", f"## {name}: attack-success rate by family (%, lower is better)", ""]
            lines += [
                f"Clean pairs right in both orders: {fmt(b.get('clean_consistent_accuracy'))}%. A family's ASR "
                "counts the judgments the judge got right on the clean pair (n) and how many of them the "
                "attack turned; 95% CI: bootstrap over source pairs.",
                "",
                "| family | ASR | 95% CI | turned / n |",
                "|---|---|---|---|",
            ]
            for family, f in b["asr"].items():
                ci = f"[{f['ci95'][0]}, {f['ci95'][1]}]" if f.get("ci95") else "-"
                lines.append(f"| {family} | {fmt(f['value'])} | {ci} | {f['successes']} / {f['n']} |")
        elif b.get("subsets"):
            lines += ["", f"## {name}: subsets", "", "| subset | score |", "|---|---|"]
            lines += [f"| {s} | {fmt(v)} |" for s, v in b["subsets"].items()]
    for name, b in report["benchmarks"].items():
        cal = b.get("calibration")
        if cal:
            lines += ["", f"## {name}: calibration of P(verdict) (n={cal['n']})", ""]
            lines += [f"Brier score {cal['brier']} (0.25 = always 0.5), ECE {cal['ece']}.", ""]
            lines += ["| confidence bin | n | mean confidence | accuracy |", "|---|---|---|---|"]
            for c in cal["bins"]:
                if c["n"]:
                    lines.append(
                        f"| {c['lo']:.2f}-{c['hi']:.2f} | {c['n']} | {c['confidence']:.3f} | {c['accuracy']:.3f} |"
                    )
    return "\n".join(lines) + "\n"


def plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    judges = {report["judge"]["name"]: report["benchmarks"]}
    judges |= {n: r["benchmarks"] for n, r in report.get("baselines", {}).items()}
    benches = list(report["benchmarks"])
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(benches) * len(judges) / 2), 3.5))
    width = 0.8 / len(judges)
    for i, (judge, results) in enumerate(judges.items()):
        values = [results.get(b, {}).get("score") or 0 for b in benches]
        ax.bar([x + i * width for x in range(len(benches))], values, width, label=judge)
    ax.set_xticks([x + width * (len(judges) - 1) / 2 for x in range(len(benches))], benches, rotation=20)
    ax.set_ylabel("official score")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    ax.set_title("judge vs baselines")
    fig.tight_layout()
    paths.append(out / "scores.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    for bench, b in report["benchmarks"].items():
        if b.get("calibration"):
            paths.append(_reliability_plot(bench, b["calibration"], report["judge"]["name"], out))
        if b.get("asr"):
            paths.append(_asr_plot(bench, b["asr"], report["judge"]["name"], out))
            continue
        if not b.get("subsets"):
            continue
        names = list(b["subsets"])
        fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(names)), 3.5))
        ax.bar(names, [b["subsets"][n] or 0 for n in names])
        ax.set_ylim(0, 100)
        ax.set_title(f"{bench}: subsets ({report['judge']['name']})")
        ax.tick_params(axis="x", rotation=30, labelsize=7)
        fig.tight_layout()
        paths.append(out / f"subsets_{bench}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def _reliability_plot(bench: str, cal: dict[str, Any], judge: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    bins = [b for b in cal["bins"] if b["n"]]
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0.5, 1], [0.5, 1], ls="--", color="gray", label="perfect calibration")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label=judge)
    for b in bins:
        ax.annotate(
            str(b["n"]),
            (b["confidence"], b["accuracy"]),
            fontsize=6,
            xytext=(3, -8),
            textcoords="offset points",
        )
    ax.set(xlim=(0.5, 1), ylim=(0, 1), xlabel="confidence max(P(A), P(B))", ylabel="accuracy")
    ax.set_title(f"{bench}: reliability (ECE {cal['ece']}, Brier {cal['brier']})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / f"calibration_{bench}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _asr_plot(bench: str, asr: dict[str, Any], judge: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    names = list(asr)
    values = [asr[n]["value"] or 0 for n in names]
    errs = [
        [v - (asr[n]["ci95"] or [v, v])[0] for n, v in zip(names, values, strict=True)],
        [(asr[n]["ci95"] or [v, v])[1] - v for n, v in zip(names, values, strict=True)],
    ]
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(names)), 3.5))
    ax.bar(names, values, yerr=errs, capsize=3, color="tab:red")
    ax.set_ylim(0, 100)
    ax.set_ylabel("attack-success rate (%)")
    ax.set_title(f"{bench}: ASR by family, 95% CI ({judge})")
    ax.tick_params(axis="x", rotation=30, labelsize=7)
    fig.tight_layout()
    path = out / f"asr_{bench}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(report: dict[str, Any], out: Path) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    plots(report, out)


def compare(dirs: list[Path]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a side-by-side table of official scores (and consistency) per benchmark."""
    reports = []
    for d in dirs:
        path = Path(d) / "report.json"
        if not path.is_file():
            from j1 import J1Error

            raise J1Error(f"{path}: no report here (run j1 eval --out {d} first)")
        reports.append(json.loads(path.read_text()))
    header = ["benchmark"] + [
        f"{Path(d).name} ({r['judge']['name']})" for d, r in zip(dirs, reports, strict=True)
    ]
    benches = list(dict.fromkeys(b for r in reports for b in r["benchmarks"]))
    rows = []
    for bench in benches:
        cells = []
        for r in reports:
            b = r["benchmarks"].get(bench)
            cells.append(
                "-" if b is None else f"{fmt(b['score'])} (cons. {fmt(b.get('consistent_accuracy'))})"
            )
        rows.append([bench, *cells])
        families = list(
            dict.fromkeys(f for r in reports for f in r["benchmarks"].get(bench, {}).get("asr", {}))
        )
        for family in families:  # the attack suite: one row per family, ASR with its CI
            cells = []
            for r in reports:
                f = r["benchmarks"].get(bench, {}).get("asr", {}).get(family)
                ci = f" [{f['ci95'][0]}, {f['ci95'][1]}]" if f and f.get("ci95") else ""
                cells.append("-" if not f else f"ASR {fmt(f['value'])}{ci}")
            rows.append([f"{bench}: {family}", *cells])
    return header, rows
