"""python -m bench.learning [--recipe R] [--arms a,b] [--set k=v ...]: see bench/learning/run.py."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from bench.learning.config import LearningConfig
from bench.learning.run import run
from j1 import J1Error
from j1.config import load_config

RECIPE = Path(__file__).with_name("recipe.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.learning", description=__doc__)
    parser.add_argument("--recipe", "-r", default=str(RECIPE))
    parser.add_argument("--arms", default="", help="comma-separated arms to run now (others: read if cached)")
    parser.add_argument("--set", "-s", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(LearningConfig, args.recipe, args.overrides)
        if args.arms:
            cfg.run_arms = [a.strip() for a in args.arms.split(",") if a.strip()]
        out = run(cfg, command=shlex.join(["python", "-m", "bench.learning", *(argv or sys.argv[1:])]))
    except J1Error as e:
        logging.getLogger("bench.learning").error("%s", e)
        return 2
    print((out / "learning.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
