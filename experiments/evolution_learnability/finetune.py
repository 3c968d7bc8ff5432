"""Does PPO keep a policy above the bar when it starts from one?

A diagnostic, not a baseline: PPO as committed (``baselines/ppo.py``, the arguments
file given), except that its actor starts from the weights of a policy file (the
behaviour clone of ``imitate.py``) instead of a random initialisation; the critic
starts fresh. If the logged ``mean_descendants`` stays at the clone's level, PPO's
objective holds the patient courter's behaviour and what it lacks is finding it;
if it falls to where PPO from scratch ends, PPO's updates pull away from it.

Run from the repository root:
``.venv/bin/python experiments/evolution_learnability/finetune.py INIT.pt ARGS.json
[--set key=value ...]`` (the overrides as for ``mesabench train ppo``).
"""

import sys
from pathlib import Path

import baselines.ppo as ppo
from baselines.training_args import apply_overrides, read_training_args
from benchmark.torch_policy import load_policy


def main() -> None:
    init, args_file, *rest = sys.argv[1:]
    overrides = [rest[i + 1] for i in range(0, len(rest), 2) if rest[i] == "--set"]
    args = apply_overrides(read_training_args(ppo.PPOArgs, Path(args_file)), overrides)
    start, _ = load_policy(init)

    class ClonedActor(ppo.Actor):
        def __init__(self, *a, **k) -> None:
            super().__init__(*a, **k)
            self.load_state_dict(start.state_dict())

    ppo.Actor = ClonedActor  # train() builds its actor by this name
    result = ppo.train(args, progress=False)
    print(f"fine-tuned from {init}: {result}")


if __name__ == "__main__":
    main()
