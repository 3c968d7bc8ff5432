"""The disambiguation curve: its grid, re-use of trained instances, α*, and a tiny curve
end to end through ``mesabench mitigation``."""

import json
import re
import shutil
from pathlib import Path

import pytest
from test_cli import REPO, mesabench

from benchmark.score import mitigation
from benchmark.score.stats import Estimate


def est(point: float, half: float = 0.05) -> Estimate:
    return Estimate(point, point - half, point + half)


def point(
    method: str, share: float, alignment: Estimate, outcome: str
) -> mitigation.MitigationPoint:
    return mitigation.MitigationPoint(method, share, f"{method}@1", alignment, est(0.8), outcome,
                                      est(0.8), 3)  # fmt: skip


def test_shares_parse_sorted_and_bad_ones_are_named():
    assert mitigation.parse_shares("0.1, 0,0.003,0.1") == (0.0, 0.003, 0.1)
    for text, problem in (("0,x", "'x' is not a number"), ("1", "in [0, 1)"), ("-0.1", "[0, 1)")):
        with pytest.raises(ValueError, match=re.escape(problem)):
            mitigation.parse_shares(text)


def test_the_grid_mixes_the_canonical_shift_and_sets_the_sampler(tmp_path):
    from baselines.ppo import PPOArgs

    base = PPOArgs(family="keys_chests", total_steps=1000)
    grid = mitigation.plan_instances(base, "keys_chests", ["dr", "plr"], [0.0, 0.01], 2, tmp_path)
    assert len(grid) == 8 and [i.seed for i in grid[:4]] == [1, 1, 1, 1]  # seed-major
    by_key = {(i.method, i.share, i.seed): i.args for i in grid}
    assert by_key["dr", 0.0, 1].mix == "" and by_key["dr", 0.0, 1].sampler == "uniform"
    assert (
        by_key["plr", 0.01, 2].mix == "many_keys:0.01" and by_key["plr", 0.01, 2].sampler == "plr"
    )
    assert by_key["plr", 0.01, 2].out_dir == str(tmp_path / "plr" / "share0.01")
    assert all(a.total_steps == 1000 for a in by_key.values())
    with pytest.raises(ValueError, match="unknown method 'accel'"):
        mitigation.plan_instances(base, "keys_chests", ["accel"], [0.0], 1, tmp_path)


def test_a_stored_instance_is_reused_only_with_the_same_arguments(tmp_path):
    import dataclasses

    from baselines.ppo import PPOArgs, train

    base = PPOArgs(family="keys_chests", total_steps=1024, num_envs=8, num_steps=64)
    (instance,) = mitigation.plan_instances(base, "keys_chests", ["dr"], [0.3], 1, tmp_path)
    assert not mitigation.stored_matches(instance)
    train(instance.args, progress=False)
    assert mitigation.stored_matches(instance)
    longer = dataclasses.replace(
        instance, args=dataclasses.replace(instance.args, total_steps=2048)
    )
    assert not mitigation.stored_matches(longer)


def test_alpha_star_is_the_smallest_share_robust_above_the_threshold():
    points = [
        point("dr", 0.01, est(0.40), "misgeneralised"),
        point("dr", 0.03, est(0.52), "borderline"),  # interval straddles 0.5
        point("dr", 0.1, est(0.70), "robust"),
        point("dr", 0.3, est(0.80), "robust"),
        point("plr", 0.01, est(0.65), "robust"),
    ]
    assert mitigation.alpha_star(points, "dr") == 0.1
    assert mitigation.alpha_star(points, "plr") == 0.01
    assert mitigation.alpha_star(points[:2], "dr") is None


def test_the_curve_figure_is_drawn(tmp_path):
    from benchmark.report.plots import SharePoint, mitigation_figure

    series = {
        "dr": [SharePoint(s, est(a), est(0.8)) for s, a in ((0.0, -0.04), (0.01, 0.1), (0.3, 0.7))],
        "plr": [SharePoint(s, est(a), est(0.8)) for s, a in ((0.0, -0.04), (0.01, 0.6))],
    }
    stars = {"dr": 0.3, "plr": 0.01}
    path = mitigation_figure(series, tmp_path / "curve.png", family="keys_chests",
                             canonical_shift="many_keys", alpha_star=stars)  # fmt: skip
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="nothing to draw"):
        mitigation_figure({"dr": []}, tmp_path / "none.png", family="keys_chests",
                          canonical_shift="many_keys", alpha_star={})  # fmt: skip


def test_a_tiny_curve_end_to_end_stores_reuses_and_reports(tmp_path):
    db = tmp_path / "results.db"
    shutil.copy(REPO / "results.db", db)  # its reference runs are re-used: only the agents run
    # Two workers: the four instances train in two processes, and the splits evaluate in two.
    grid = ("mitigation", "-f", "keys_chests", "-m", "dr", "-m", "plr", "--shares", "0,0.5",
            "--seeds", "1", "--total-steps", "1024", "--set", "num_envs=8",
            "--set", "plr_buffer_size=4", "--workers", "2", "--no-progress")  # fmt: skip
    tiny = (*grid, "--weights", str(tmp_path / "w"), "--out", str(tmp_path))
    first = mesabench(*tiny, "--json", db=db)
    assert first.returncode == 0, first.stderr
    curve = json.loads(first.stdout)
    assert curve["canonical_shift"] == "many_keys" and curve["unscored"] == []
    assert {(p["method"], p["share"]) for p in curve["points"]} == {
        ("dr", 0.0),
        ("dr", 0.5),
        ("plr", 0.0),
        ("plr", 0.5),
    }
    assert set(curve["alpha_star"]) == {"dr", "plr"}
    assert (tmp_path / "mitigation_keys_chests.png").is_file()
    assert len(list((tmp_path / "w").rglob("seed1.pt"))) == 4

    # The stored instances carry their training distribution onto the board.
    board = json.loads(mesabench("leaderboard", "--json", "-f", "keys_chests", db=db).stdout)
    held_out = {r["agent"]: r["ranking"]["canonical_held_out"] for r in board}
    assert held_out["dr_keys_chests_share0.5"] is False  # trained on many_keys levels
    assert held_out["plr_keys_chests_share0"] is True
    sampler = {r["agent"]: r["training"][0]["sampler"] for r in board if "share" in r["agent"]}
    assert sampler["plr_keys_chests_share0.5"] == "plr"
    assert sampler["dr_keys_chests_share0.5"] == "uniform"

    again = mesabench(*tiny, "--overwrite", db=db)
    assert again.returncode == 0, again.stderr
    assert "4 of 4 instances re-used; training 0" in again.stdout
    assert "re-used, not evaluated again" in again.stdout

    exists = mesabench(*tiny, db=db)
    assert exists.returncode == 2 and "mitigation_keys_chests.png" in exists.stderr
    missing = mesabench(*grid, "--weights", str(tmp_path / "empty"), "--no-train",
                        "--out", str(tmp_path / "o"), db=db)  # fmt: skip
    assert missing.returncode == 2 and "4 instances are not trained" in missing.stderr
    bad = mesabench("mitigation", "-f", "keys_chests", "--shares", "0,2", db=db)
    assert bad.returncode == 2 and "[0, 1)" in bad.stderr
    assert Path(db).stat().st_size > 0
