"""`mesabench perf` measures what it says (figures are printed, never asserted on speed)."""

from benchmark.report import perf


def test_each_figure_is_measured():
    assert perf.env_steps_per_second(8, seconds=0.2) > 0
    assert perf.minigrid_steps_per_second(seconds=0.2) > 0
    evolution = perf.evolution_steps_per_second(4, seconds=0.2)
    assert evolution["evolution_v1_organism_steps_per_s_batch_4"] > 0
    figures = perf.evaluation_throughput(num_envs=64)
    assert set(figures) == {
        "eval_env_steps_per_s_torch_mlp",
        "eval_episodes_per_s_torch_mlp",
        "eval_env_steps_per_s_torch_mlp_isolated",
        "isolated_agent_startup_s",
        "isolation_throughput_ratio",
    }
    assert all(v > 0 for v in figures.values())


def test_table_marks_targets_met_or_missed():
    figures = {"keys_chests_steps_per_s_batch_4096": 1.0, "store_100k_rows_s": 1.0, "cpu": "x"}
    rendered = str(perf.perf_table(figures).columns[3]._cells)
    assert "missed" in rendered and "met" in rendered


def test_the_executors_identity_figure_is_a_yes_or_no_target():
    table = perf.perf_table({"ray_episodes_identical": False, "ray_wall_s": 3.0, "cpu": "x"})
    rendered = str(table.columns[1]._cells) + str(table.columns[3]._cells)
    assert "no" in rendered and "missed" in rendered
    assert "missed" not in str(perf.perf_table({"ray_episodes_identical": True}).columns[3]._cells)
