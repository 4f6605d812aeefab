"""verl custom reward functions backed by a served j1 judge (`j1 serve`).

verl calls a custom reward function by path and name, with the keyword arguments of
`custom_reward_function.reward_kwargs`:

    # one response at a time (verl's default `naive` reward manager)
    custom_reward_function.path=$(python -c "import j1.verl_reward as m; print(m.__file__)")
    custom_reward_function.name=compute_score
    +custom_reward_function.reward_kwargs.base_url=http://judge-host:8000

    # a whole batch at once, the rollouts of each prompt compared with each other (`batch` reward manager)
    reward_model.reward_manager=batch custom_reward_function.name=compute_score_batch
    +custom_reward_function.reward_kwargs.schedule=round_robin

verl does not pass the prompt to a reward function: the judge reads the question from the dataset's
`extra_info` (`question`, else `prompt`), which verl's data preprocessing scripts write; a row without one is
an error that says so. `ground_truth` is the anchor (`mode="anchor"`) when there is one. A response the
judge could not score gets `fallback` (default 0.5), never an error that stops training.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from j1 import J1Error
from j1.group import cached, client_judge, score_batch, score_group

_clients: dict[tuple[str, str | None], Any] = {}
_judges: dict[tuple[str, str | None], Any] = {}
_lock = threading.Lock()


def _client(base_url: str, api_key: str | None) -> Any:
    from j1.client import JudgeClient

    with _lock:
        key = (base_url, api_key)
        if key not in _clients:
            _clients[key] = JudgeClient(base_url, api_key=api_key)
            _judges[key] = cached(client_judge(_clients[key]))
        return _clients[key], _judges[key]


def question_of(extra_info: Any, n: int = 0) -> str:
    info = extra_info if isinstance(extra_info, dict) else {}
    text = info.get("question") or info.get("prompt")
    if not text:
        raise J1Error(
            f"j1 reward for verl: row {n}'s extra_info has no 'question' (or 'prompt'): the judge needs the "
            "question; add it to extra_info when preprocessing the dataset"
        )
    return text if isinstance(text, str) else str(text)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    base_url: str = "http://127.0.0.1:8000",
    api_key: str | None = None,
    mode: str = "pointwise",
    fallback: float = 0.5,
    **_: Any,
) -> float:
    """One response: its pointwise score / 10, or (`mode="anchor"`) 1 / 0.5 / 0 against `ground_truth`."""
    client, judge = _client(base_url, api_key)
    question = question_of(extra_info)
    if mode == "pointwise":
        score = client.pointwise(question, solution_str)["score"]
        return fallback if score is None else score / 10
    if mode == "anchor":
        if ground_truth is None:
            raise J1Error(
                "j1 reward for verl: mode='anchor' compares with ground_truth, which this row lacks"
            )
        reward = score_group(
            judge, question, [solution_str], "anchor", anchor_text=str(ground_truth)
        ).rewards[0]
        return fallback if reward is None else reward
    raise J1Error(f"j1 reward for verl: mode must be 'pointwise' or 'anchor', got {mode!r}")


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any],
    *,
    base_url: str = "http://127.0.0.1:8000",
    api_key: str | None = None,
    schedule: str = "round_robin",
    scoring: str = "winrate",
    k: int = 2,
    fallback: float = 0.5,
    seed: int = 0,
    **_: Any,
) -> list[float]:
    """A batch: the responses to each question form a group scored by `j1.group.score_group`."""
    _, judge = _client(base_url, api_key)
    questions = [question_of(info, n) for n, info in enumerate(extra_infos)]
    anchors = [str(t) for t in ground_truths] if schedule == "anchor" else None
    result = score_batch(judge, questions, list(solution_strs), schedule, scoring, k, anchors, seed)
    return [fallback if r is None else r for r in result.rewards]
