"""The learning benchmark (`make learning-check`): j1's GRPO against its warm start, trivial baselines, a
shuffled-label control, DPO, semi-online DPO and supervised training at equal wall time. See `run.py`."""
