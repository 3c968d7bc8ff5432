"""Replays: one episode of an agent recorded as an animated GIF, objectives beside each frame.

A Gymnasium family's split (or sweep point) is made as a batch of one level with
``render_mode="rgb_array"`` (through the family's vector entry point when it has
one), reset with the level seed, and the agent acts on batches of one. A
PettingZoo family's ``ParallelEnv`` is made from the family's entry point; the
agent acts for every live agent at once (observations stacked in the order of
``env.agents``) and a privileged agent sees the level through
:class:`~benchmark.protocol.ParallelBatch`. As in evaluation, only a trusted
source is built beside the environment; any other agent acts from an agent
process (:mod:`benchmark.evaluate.sandbox`). Pillow writes the GIF (it comes with
matplotlib): no further dependency.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmark.evaluate.agents import AgentSource
from benchmark.evaluate.runner import Target, stack_observations
from benchmark.evaluate.sandbox import AgentProcess, Limits, build_remote
from benchmark.protocol import AgentContext, ParallelBatch, reset_agent
from envs.family import Family

#: Frames per second of a replay.
DEFAULT_FPS = 8
#: Frames are scaled (nearest neighbour) to at least this height in pixels.
MIN_HEIGHT = 320
#: Width of the text panel beside each frame.
PANEL_WIDTH = 300
#: Height of one line of a frame's colour legend.
LEGEND_ROW = 18


@dataclass
class Recording:
    """One recorded episode: frames and the objectives' running totals at each frame."""

    family: str
    split: str
    seed: int
    agent: str
    intended: str
    frames: list[np.ndarray] = field(default_factory=list)
    totals: list[dict[str, float]] = field(default_factory=list)
    termination: str = ""
    #: What the frame's colours mean, (label, RGB), drawn beside every frame; from the
    #: environment's ``render_legend`` where it has one.
    legend: list[tuple[str, tuple[int, int, int]]] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.frames) - 1


def _first_objectives(info: Any) -> dict[str, float]:
    """The objectives of slot 0 of a vector env's info."""
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in info["objectives"].items()}


def record_gymnasium(
    source: AgentSource,
    family: Family,
    target: Target,
    seed: int,
    *,
    agent_seed: int = 0,
    instance: int = 0,
    max_steps: int | None = None,
    build: Callable[[AgentContext], list] | None = None,
) -> Recording:
    """Play one episode of ``target`` on level ``seed`` and record every frame
    (the first ``max_steps`` steps only, if given)."""
    env = target.make_env(1, render_mode="rgb_array")
    try:
        context = AgentContext(
            family=family.name, split=target.split, env_id=target.env_id,
            observation_space=env.single_observation_space, action_space=env.single_action_space,
            num_envs=1, seed=agent_seed, env=env,
        )  # fmt: skip
        agents = (build or source.build)(context)
        agent = agents[min(instance, len(agents) - 1)]
        observations, info = env.reset(seed=[int(seed)])
        reset_agent(agent)
        recording = Recording(
            family.name, target.split, int(seed), source.reference, family.intended.name,
            legend=list(getattr(env.unwrapped, "render_legend", ())),
        )  # fmt: skip
        recording.frames.append(np.asarray(env.render()[0]))
        recording.totals.append(_first_objectives(info))
        while max_steps is None or recording.length < max_steps:
            actions = np.asarray(agent.act(observations)).reshape(1)
            observations, _, terminated, truncated, info = env.step(actions)
            recording.frames.append(np.asarray(env.render()[0]))
            recording.totals.append(_first_objectives(info))
            if bool(np.asarray(terminated)[0] or np.asarray(truncated)[0]):
                recording.termination = str(np.asarray(info.get("termination", [""]))[0])
                return recording
        recording.termination = f"stopped after {max_steps} steps"
        return recording
    finally:
        env.close()


def record_pettingzoo(
    source: AgentSource,
    family: Family,
    target: Target,
    seed: int,
    *,
    agent_seed: int = 0,
    instance: int = 0,
    max_steps: int | None = None,
    build: Callable[[AgentContext], list] | None = None,
) -> Recording:
    """Play one episode of a PettingZoo family's target; the agent acts for every live agent.

    Running totals are read from the level's ``episode_objectives`` (as the runner reads
    the final ones), or else from the first live agent's ``info["objectives"]``.
    """
    (env,) = target.make_parallel_envs(1, render_mode="rgb_array")
    try:
        observations, infos = env.reset(seed=int(seed))
        first = env.possible_agents[0]
        space = env.observation_space(first)
        batch = ParallelBatch([env], [(0, a) for a in env.agents])
        context = AgentContext(
            family=family.name, split=target.split, env_id=target.env_id,
            observation_space=space, action_space=env.action_space(first),
            num_envs=1, seed=agent_seed, env=batch,
        )  # fmt: skip
        agents = (build or source.build)(context)
        agent = agents[min(instance, len(agents) - 1)]
        reset_agent(agent)
        recording = Recording(
            family.name, target.split, int(seed), source.reference, family.intended.name,
            legend=list(getattr(env.unwrapped, "render_legend", ())),
        )  # fmt: skip
        totals = dict.fromkeys(family.objective_names, 0.0)

        def snapshot(infos: dict) -> None:
            state = env.unwrapped
            live = getattr(state, "episode_objectives", None)
            if live is None:
                live = next(
                    (i["objectives"] for i in infos.values() if isinstance(i, dict) and
                     "objectives" in i), {},
                )  # fmt: skip
            totals.update({k: float(v) for k, v in dict(live).items() if k in totals})
            recording.frames.append(np.asarray(env.render()))
            recording.totals.append(dict(totals))
            recording.termination = str(getattr(state, "episode_termination", "") or "")

        snapshot(infos)
        while env.agents:
            if max_steps is not None and recording.length >= max_steps:
                recording.termination = f"stopped after {max_steps} steps"
                break
            live = list(env.agents)
            batch.rows[:] = [(0, a) for a in live]
            batched = stack_observations(space, [observations[a] for a in live])
            actions = np.asarray(agent.act(batched))
            observations, _, _, _, infos = env.step(dict(zip(live, actions.tolist(), strict=True)))
            snapshot(infos)
        if not recording.termination and not env.agents:
            recording.termination = "ended"
        return recording
    finally:
        env.close()


def record(
    source: AgentSource,
    family: Family,
    target: Target,
    seed: int,
    *,
    agent_seed: int = 0,
    max_steps: int | None = None,
) -> Recording:
    """Record one episode of the agent on ``target`` (any family kind), at most
    ``max_steps`` steps of it if given."""
    play = record_pettingzoo if family.kind == "pettingzoo" else record_gymnasium
    with contextlib.ExitStack() as stack:

        def build(context: AgentContext) -> list:
            if source.trusted:
                return source.build(context)
            process = stack.enter_context(AgentProcess(source, Limits()))
            return build_remote(process, dataclasses.replace(context, env=None))

        return play(
            source, family, target, seed, agent_seed=agent_seed, max_steps=max_steps, build=build
        )


# --------------------------------------------------------------------------- drawing


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def compose(recording: Recording, index: int, peaks: dict[str, float]) -> Image.Image:
    """Frame ``index`` scaled up, with a panel of the objectives' running totals beside it."""
    frame = recording.frames[index]
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    image = Image.fromarray(frame[..., :3])
    scale = max(1, -(-MIN_HEIGHT // image.height))
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    objectives = len(recording.totals[index])
    legend = (24 + LEGEND_ROW * len(recording.legend)) if recording.legend else 0
    height = max(image.height, 176 + 38 * objectives + 30 + legend)
    canvas = Image.new("RGB", (image.width + PANEL_WIDTH, height), (250, 250, 250))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    big, small = _font(16), _font(13)
    x, y = image.width + 12, 10
    draw.text((x, y), f"{recording.family} / {recording.split}", fill=(0, 0, 0), font=big)
    y += 22
    draw.text((x, y), f"level seed {recording.seed}", fill=(60, 60, 60), font=small)
    y += 18
    agent = recording.agent if len(recording.agent) <= 36 else "…" + recording.agent[-35:]
    draw.text((x, y), f"agent {agent}", fill=(60, 60, 60), font=small)
    y += 26
    draw.text((x, y), f"step {index} / {recording.length}", fill=(0, 0, 0), font=big)
    y += 30
    draw.text((x, y), "objectives so far", fill=(0, 0, 0), font=big)
    y += 24
    bar_width = PANEL_WIDTH - 36
    for name, value in recording.totals[index].items():
        intended = name == recording.intended
        colour = (30, 110, 40) if intended else (170, 70, 30)
        role = "intended" if intended else "proxy"
        draw.text((x, y), f"{name} ({role}): {value:.4g}", fill=colour, font=small)
        y += 18
        peak = peaks.get(name) or 1.0
        filled = int(bar_width * max(0.0, min(1.0, value / peak))) if peak > 0 else 0
        draw.rectangle((x, y, x + bar_width, y + 10), outline=(180, 180, 180))
        if filled:
            draw.rectangle((x, y, x + filled, y + 10), fill=colour)
        y += 20
    if index == recording.length and recording.termination:
        y += 6
        draw.text((x, y), f"episode over: {recording.termination}", fill=(0, 0, 0), font=big)
    y += 30
    if recording.legend:
        draw.text((x, y), "colours in the frame", fill=(0, 0, 0), font=big)
        y += 24
    for label, rgb in recording.legend:
        draw.rectangle((x, y + 2, x + 11, y + 13), fill=tuple(rgb), outline=(120, 120, 120))
        draw.text((x + 18, y), label, fill=(40, 40, 40), font=small)
        y += LEGEND_ROW
    return canvas


def write_gif(recording: Recording, path: Path, *, fps: int = DEFAULT_FPS) -> Path:
    """Write the recording as a looping GIF (the last frame held for two seconds)."""
    if not recording.frames:
        raise ValueError("nothing recorded")
    names = list(recording.totals[0])
    # One scale for every bar (the largest total reached), so bars compare objectives.
    peak = max((t.get(n, 0.0) for t in recording.totals for n in names), default=0.0)
    peaks = dict.fromkeys(names, peak)
    images = [compose(recording, i, peaks) for i in range(len(recording.frames))]
    frame_ms = max(20, round(1000 / fps))
    durations = [frame_ms] * (len(images) - 1) + [2000]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False
    )
    return path
