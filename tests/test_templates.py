from __future__ import annotations

import hashlib

import pytest

from j1 import J1Error
from j1.templates import available, render

GOLDEN = {
    # sha256 of the render with the slots below: a template change must be a new version, not an edit.
    "pairwise_verdict_v1": "7f2dab7302b998503998ad7c92e0dde26c1c6dc15673c1f8f453e323c0b3fc20",
    "pairwise_verdict_short_v1": "858655c2b7f275f184264c7996b57efaa984b42fab6bf8176775525f2d2e5ca6",
}
SLOTS = {"prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5"}


def test_templates_ship_as_package_data() -> None:
    assert "pairwise_verdict_v1" in available()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_render(name: str) -> None:
    text = render(name, **SLOTS)
    assert "[User Question]\nWhat is 2 + 2?" in text
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest == GOLDEN[name], f"{name} changed: release it as a new version"


def test_missing_slot_is_an_error() -> None:
    with pytest.raises(J1Error, match="response_b"):
        render("pairwise_verdict_v1", prompt="p", response_a="a")


def test_user_text_is_not_template_code() -> None:
    text = render("pairwise_verdict_v1", prompt="{{ 7 * 7 }}", response_a="{% for x in y %}", response_b="b")
    assert "{{ 7 * 7 }}" in text and "{% for x in y %}" in text and "49" not in text


def test_unknown_template_lists_available() -> None:
    with pytest.raises(J1Error, match="available: .*pairwise_verdict_v1"):
        render("nope_v1")
