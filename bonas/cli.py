"""The ``bonas`` command line.

``bonas demo`` samples architectures from a space, mutates them with the space's
operators and draws them, writing PNGs and a JSON file of the architectures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bonas.drawing import draw
from bonas.exceptions import BonasError
from bonas.spaces import get_space

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for k in range(args.count):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        for role, arch in (("sample", parent), ("mutant", child)):
            path = draw(
                arch,
                out / f"{args.space}-{k:02d}-{role}.png",
                title=f"{args.space} {role} {k}: {arch.num_layers} layers",
            )
            records.append(
                {"index": k, "role": role, "png": path.name, "architecture": arch.to_dict()}
            )
        print(
            f"[{k + 1}/{args.count}] {parent.num_layers}-layer sample -> "
            f"{child.num_layers}-layer mutant"
        )
    (out / "architectures.json").write_text(json.dumps(records, indent=1))
    print(f"wrote {len(records)} drawings and architectures.json to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bonas", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="sample, mutate and draw architectures")
    demo.add_argument(
        "--space", default="cnn", choices=["cnn", "mlp", "nb201", "nb101", "nbgraph", "darts"]
    )
    demo.add_argument("--count", type=int, default=4, help="how many samples to draw")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="bonas-demo", help="output folder")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bonas`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BonasError as err:
        print(f"bonas: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
