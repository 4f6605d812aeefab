from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from j1.config import ConfigError, dump_config, load_config
from j1.generate import GenerateConfig
from j1.train.config import TrainConfig


@dataclass
class Inner:
    n: int = 1
    temperature: float = 1.0
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    model: str = "smollm2-135m"
    limit: int | None = None
    inner: Inner = field(default_factory=Inner)
    passthrough: dict = field(default_factory=dict)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "recipe.yaml"
    p.write_text(text)
    return p


def test_defaults_without_recipe() -> None:
    assert load_config(Outer) == Outer()


def test_yaml_then_overrides(tmp_path: Path) -> None:
    p = write(tmp_path, "model: other\ninner:\n  n: 2\npassthrough:\n  learning_rate: 1.0e-6\n  beta: 0.01\n")
    cfg = load_config(Outer, p, ["inner.n=5", "inner.temperature=0", "limit=3", "inner.names=[a, b]"])
    assert cfg.model == "other"
    assert cfg.inner == Inner(n=5, temperature=0.0, names=["a", "b"])
    assert isinstance(cfg.inner.temperature, float)
    assert cfg.limit == 3
    assert cfg.passthrough == {"learning_rate": 1e-6, "beta": 0.01}


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("modle: x\n", [], "unknown key modle; valid keys: inner, limit, model, passthrough"),
        ("", ["inner.m=1"], "unknown key inner.m; valid keys under inner: n, names, temperature"),
        ("inner:\n  n: two\n", [], "inner.n must be int, got 'two'"),
        ("inner: 3\n", [], "inner must be a mapping"),
        ("limit: 1.5\n", [], "limit must be int"),
        ("passthrough: [1]\n", [], "passthrough must be a mapping"),
        ("- a\n- b\n", [], "a recipe must be a mapping"),
        ("", ["noequals"], "is not of the form key.sub=value"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(Outer, write(tmp_path, text), overrides)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "model: ok\ninner:\n  n: [1, 2\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml:\d+:\d+: invalid YAML"):
        load_config(Outer, p)


def test_missing_recipe() -> None:
    with pytest.raises(ConfigError, match="recipe not found"):
        load_config(Outer, "/nonexistent/recipe.yaml")


def test_dump_roundtrip(tmp_path: Path) -> None:
    cfg = load_config(
        GenerateConfig, None, ["sampling.n=3", "backend.name=hf", "backend.options.batch_size=8"]
    )
    path = dump_config(cfg, tmp_path)
    assert load_config(GenerateConfig, path) == cfg


def test_sampling_values_are_validated() -> None:
    with pytest.raises(Exception, match="top_p"):
        load_config(GenerateConfig, None, ["sampling.top_p=0"])


def test_partial_section_keeps_the_fields_own_defaults() -> None:
    """GenerateConfig's sampling defaults to greedy; overriding one key must not reset temperature to the
    SamplingParams class default."""
    cfg = load_config(GenerateConfig, None, ["sampling.max_tokens=7"])
    assert cfg.sampling.max_tokens == 7 and cfg.sampling.temperature == 0.0


def test_exponent_floats_are_floats(tmp_path: Path) -> None:
    """`1e-5` is a float in recipes and overrides (PyYAML's YAML 1.1 would read it as a string)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("grpo: {learning_rate: 1e-5, beta: 4E-2, name: 1e5x}\n")
    data = load_config(TrainConfig, recipe, ["grpo.max_grad_norm=5e-1"]).grpo
    assert data == {"learning_rate": 1e-5, "beta": 0.04, "name": "1e5x", "max_grad_norm": 0.5}


@dataclass
class Arm:
    train: dict = field(default_factory=dict)


@dataclass
class Arms:
    arms: dict[str, Arm] = field(default_factory=dict)  # a named set of sections, each built and checked


def test_yaml_anchors_are_copies_an_override_changes_one(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("arms:\n  a: {train: &t {steps: 2, lr: 1}}\n  b: {train: *t}\n")
    cfg = load_config(Arms, recipe, ["arms.b.train.steps=5"])
    assert cfg.arms["a"].train == {"steps": 2, "lr": 1} and cfg.arms["b"].train == {"steps": 5, "lr": 1}
    with pytest.raises(ConfigError, match="arms.b.trian"):
        load_config(Arms, recipe, ["arms.b.trian=1"])
