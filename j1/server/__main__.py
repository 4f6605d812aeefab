"""`python -m j1.server`: start a judge server from flags (the same settings as `j1 serve`).

    python -m j1.server --judge smollm2-135m --port 8000
    python -m j1.server --judge ./my-judge --engine hf --option batch_wait_ms=10 --queue-size 64
    python -m j1.server --judge judge --engine upstream --upstream http://gpu-box:8000/v1 --option tokenizer=./my-judge

`--option KEY=VALUE` (repeatable) goes to the engine (`backend_options`); values are read as YAML scalars.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from j1 import J1Error
from j1.config import parse_yaml
from j1.server import ENGINES, ServeConfig, run

SCALARS = (str, int, float, bool)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m j1.server", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    defaults = ServeConfig(api_key=None)
    for f in dataclasses.fields(ServeConfig):
        if f.name == "backend_options":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.name == "engine":
            ap.add_argument(flag, choices=("auto", *ENGINES), default="auto")
        elif isinstance(default, bool):
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, int | float):
            ap.add_argument(flag, type=type(default), default=default)
        else:
            ap.add_argument(
                flag, default=default, help="default: $J1_API_KEY" if f.name == "api_key" else None
            )
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="an engine option")
    return ap


def config_from_args(argv: list[str] | None = None) -> ServeConfig:
    args = vars(parser().parse_args(argv))
    options = {}
    for item in args.pop("option"):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise J1Error(f"--option {item!r} is not KEY=VALUE")
        options[key.strip()] = parse_yaml(value) if value.strip() else ""
    if args["api_key"] is None:
        args.pop("api_key")  # the dataclass default reads $J1_API_KEY
    return ServeConfig(**args, backend_options=options)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = config_from_args(argv)
        logging.basicConfig(
            level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        run(cfg)
    except J1Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
