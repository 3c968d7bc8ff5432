"""Does a convolutional torso let PPO find selective courting?

PPO as committed (``baselines/ppo.py``, the arguments file given), except that
the evolution view's flat observation is read through ``conv_channels``: its
first ``4 * V * V`` values are the egocentric view, channels ``(4, V, V)`` in C
order (``envs.evolution.env``'s documented layout), and the last is the
organism's energy. ``baselines/ppo.py`` applies ``conv_channels`` only to
observations whose space is an image, so this script tells it where the image
lies in the flat one. A conv net shares what it learns about "a bright organism
there" across the view's cells, where an MLP learns each cell separately.

Run from the repository root:
``.venv/bin/python experiments/evolution_learnability/conv.py ARGS.json
[--set key=value ...]`` (the overrides as for ``mesabench train ppo``; set
``conv_channels``).
"""

import math
import sys
from pathlib import Path

import baselines.ppo as ppo
from baselines.training_args import apply_overrides, read_training_args
from envs.evolution.env import N_CHANNELS


def evolution_view_slot(space) -> ppo.ImageSlot:
    """The view inside the flat evolution observation: ``(0, (4, V, V))``."""
    (dim,) = space.shape
    side = math.isqrt((dim - 1) // N_CHANNELS)
    if N_CHANNELS * side * side + 1 != dim:
        raise ValueError(f"not an evolution view observation: {space}")
    return 0, (N_CHANNELS, side, side)


def main() -> None:
    args_file, *rest = sys.argv[1:]
    overrides = [rest[i + 1] for i in range(0, len(rest), 2) if rest[i] == "--set"]
    args = apply_overrides(read_training_args(ppo.PPOArgs, Path(args_file)), overrides)
    if not args.conv_channels:
        raise SystemExit("set conv_channels, e.g. --set conv_channels=[16,32]")
    ppo.image_slot = evolution_view_slot  # train() finds the image by this name
    result = ppo.train(args, progress=False)
    print(f"conv torso {args.conv_channels}: {result}")


if __name__ == "__main__":
    main()
