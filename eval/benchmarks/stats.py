"""Generic judge statistics for any benchmark, reported beside its official score.

The unit is one comparison: `item.chosen` against one `item.rejected[k]`, judged once in each order. A verdict
is "right" in an order when it equals the item's expected preference ("chosen", or "tie" for tie-labelled
items). Every number is a 0-100 percentage (None when there is nothing to count):

| key                   | numerator                                                      | denominator    |
|-----------------------|----------------------------------------------------------------|----------------|
| `per_order["ab"]`     | comparisons right in order ab (chosen shown as A)              | n comparisons  |
| `per_order["ba"]`     | comparisons right in order ba (chosen shown as B)              | n comparisons  |
| `consistent_accuracy` | comparisons right in both orders                               | n comparisons  |
| `flip_rate`           | comparisons whose two orders both name a winner, not the same  | n comparisons  |
| `tie_rate`            | verdicts "tie"                                                 | 2n verdicts    |
| `parse_fail_rate`     | verdicts None (no parse)                                       | 2n verdicts    |

Right, consistent and flip are `j1.scoring`'s rules, the ones the training rewards use. A flip is one order
saying "chosen" and the other "rejected": the judge followed the position, not the response. A tie or a parse failure is never a flip, and a parse failure is never counted as a tie. `n` is the
number of comparisons, `n_items` the number of items (RewardBench 2 has three comparisons per item).
"""

from __future__ import annotations

from typing import Any

from j1.eval.benchmarks.base import ItemResult, check_results, expected_pref, pct
from j1.scoring import consistent, flipped, right


def generic_stats(results: list[ItemResult]) -> dict[str, Any]:
    """per_order, consistent_accuracy, flip_rate, tie_rate, parse_fail_rate (0-100), n and n_items."""
    check_results(results, "generic stats")
    n = right_ab = right_ba = both = flips = ties = fails = 0
    for r in results:
        want = expected_pref(r.item)
        for c in r.comparisons:
            ab, ba = c.prefs["ab"], c.prefs["ba"]
            n += 1
            ok_ab, ok_ba = right(ab, want), right(ba, want)
            right_ab += ok_ab
            right_ba += ok_ba
            both += consistent(ok_ab, ok_ba)
            flips += flipped(ab, ba)
            ties += (ab == "tie") + (ba == "tie")
            fails += (ab is None) + (ba is None)
    return {
        "n": n,
        "n_items": len(results),
        "per_order": {"ab": pct(right_ab, n), "ba": pct(right_ba, n)},
        "consistent_accuracy": pct(both, n),
        "flip_rate": pct(flips, n),
        "tie_rate": pct(ties, 2 * n),
        "parse_fail_rate": pct(fails, 2 * n),
    }
