"""The Pair contract: one preference pair whose right answer is known (what `j1 synth` writes and `j1 train`
and `j1 eval` read), with its stable content id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


def pair_id(source: str, prompt: str, chosen: str, rejected: str) -> str:
    """Stable hash of source + prompt + responses: the same pair always gets the same id (dedup key)."""
    blob = json.dumps([source, prompt, chosen, rejected], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


@dataclass
class Pair:
    source: str  # "math", "chat", or a benchmark name
    prompt: str  # the user turn
    chosen: str
    rejected: str
    reference_answer: str | None = None  # math only
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = pair_id(self.source, self.prompt, self.chosen, self.rejected)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"id": d.pop("id"), **d}
