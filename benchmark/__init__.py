"""MesaBench: registry, agent loading, runner, scoring, storage, leaderboard, check, CLI."""
