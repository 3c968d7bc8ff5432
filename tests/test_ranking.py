"""Ranking and the leaderboard's flags, on hand-made results (no database)."""

from datetime import UTC, datetime

import pytest
from rich.console import Console

import envs
from benchmark.report.leaderboard import leaderboard_json, leaderboard_table
from benchmark.score import results
from benchmark.score.results import AgentResult, SplitResult, rank_key
from benchmark.score.scoring import ALIGNED, Outcome, Score, train_outcome
from benchmark.score.stats import Estimate
from benchmark.store.storage import RunRecord

FAMILY = envs.get_family("keys_chests")


def run_record(split: str, n_instances: int) -> RunRecord:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return RunRecord(
        1, 1, "x", "1", "agent", False, "c", 1, FAMILY.name, split, f"id-{split}", 1, "f", "s",
        256, n_instances, when, 1.0, "", when,
    )  # fmt: skip


def flat_score(alignment: float, on_train: bool = False, width: float = 0.05) -> Score:
    """A score whose every objective sits at ``alignment`` with a +-``width`` interval."""
    e = Estimate(alignment, alignment - width, alignment + width)
    outcome = train_outcome(e, e) if on_train else Outcome((ALIGNED,))
    return Score({"chests_opened": e, "keys_collected": e}, "chests_opened", e, e,
                 "chests_opened", outcome, 256)  # fmt: skip


def result(
    name: str,
    canonical: float | None,
    pooled: float | None = None,
    *,
    n_instances: int = 5,
    missing: tuple[str, ...] = (),
    kind: str = "agent",
) -> AgentResult:
    splits = {}
    for split in FAMILY.splits:
        if split.name in missing:
            continue
        value = 0.9 if split.name == "train" else (canonical if canonical is not None else 0.9)
        splits[split.name] = SplitResult(
            FAMILY.name, split.name, split.probes, split.name == FAMILY.canonical_shift,
            run_record(split.name, n_instances), flat_score(value, split.name == "train"),
            {"chests_opened": 1.0, "keys_collected": 1.0}, {"timeout": 256},
        )  # fmt: skip
    shift = splits.get(FAMILY.canonical_shift)
    return AgentResult(
        name=name, version="1", kind=kind, privileged=False, family=FAMILY.name, splits=splits,
        train=splits["train"].score if "train" in splits else None, canonical=shift,
        alignment_shifts=flat_score(pooled) if pooled is not None else None,
        capability_shifts=None, missing=missing, n_instances=n_instances,
    )  # fmt: skip


def test_incomplete_submissions_rank_after_complete_ones():
    skipped = result("skipped_the_shift", None, missing=("many_keys",))
    partial = result("partial_but_best", 0.99, missing=("large_maze",))
    low = result("low", 0.2, 0.2)
    high = result("high", 0.8, 0.8)
    ranked = sorted([skipped, partial, low, high], key=rank_key)
    assert [r.name for r in ranked] == ["high", "low", "partial_but_best", "skipped_the_shift"]
    assert not partial.complete and partial.missing == ("large_maze",)


def test_pooled_alignment_breaks_a_tie_on_the_canonical_shift():
    a, b = result("a", 0.5, 0.4), result("b", 0.5, 0.6)
    assert [r.name for r in sorted([a, b], key=rank_key)] == ["b", "a"]


def test_json_carries_the_ranking_figures_and_every_flag():
    single = result("single", 0.7, 0.7, n_instances=1)
    incomplete = result("incomplete", 0.9, missing=("large_maze",))
    rows = leaderboard_json(sorted([incomplete, single], key=rank_key))
    by_agent = {(r["agent"], r["split"]): r for r in rows}
    mine = by_agent[("single", "many_keys")]
    assert mine["single_instance"] and mine["rank"] == 1
    assert mine["ranking"]["canonical_alignment"]["point"] == pytest.approx(0.7)
    assert mine["ranking"]["alignment_shifts"]["point"] == pytest.approx(0.7)
    assert mine["ranking"]["complete"] and not mine["ranking"]["borderline"]
    other = by_agent[("incomplete", "many_keys")]
    assert other["rank"] == 2 and other["ranking"]["missing"] == ["large_maze"]
    assert not other["ranking"]["complete"] and not other["single_instance"]
    # A train alignment at the threshold is borderline, and the JSON says so alike.
    train = by_agent[("single", "train")]
    assert train["outcome"] == "aligned" and not train["borderline"]
    edge = result("edge", 0.7)
    edge.splits["train"] = SplitResult(
        FAMILY.name, "train", "none", False, run_record("train", 5), flat_score(0.5, True),
        {}, {},
    )  # fmt: skip
    edge_row = next(r for r in leaderboard_json([edge]) if r["split"] == "train")
    assert edge_row["borderline"] and edge_row["outcome"] == "borderline"
    assert edge_row["outcome_between"] == ["aligned", "misaligned", "incapable"]
    assert edge_row["ranking"]["borderline"]


@pytest.mark.parametrize("width", [80, 160])
def test_tables_fit_the_terminal(width):
    results = [
        result("ppo_keys_chests_with_a_long_name", 0.44, 0.44),
        result("single", 0.7, 0.7, n_instances=1),
        result("incomplete", 0.9, missing=("large_maze",)),
    ]
    console = Console(width=width, record=True, color_system=None)
    for split in (None, "many_keys"):
        console.print(leaderboard_table(sorted(results, key=rank_key), split, width=width))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "‡" in text and "¹" in text  # incomplete and single-instance marks


@pytest.mark.parametrize(
    "stored, expected",
    [
        (None, None),
        (
            '[{"splits": {"train": 0.9, "many_keys": 0.1}}]',
            [{"splits": {"train": 0.9, "many_keys": 0.1}}],
        ),
        ("not json", None),
        ('{"splits": {"train": 1}}', None),  # not a list
        ('[{"splits": {"train": "all"}}]', None),  # a share that is not a number
        ('[{"splits": {"train": 1}}, {"seed": 2}]', None),  # an instance that does not say
    ],
)
def test_a_training_record_is_read_only_when_well_formed(stored, expected):
    assert results._training(stored) == expected
