"""Invariants the database enforces: one run per (submission, environment, seed set),
one episode per (run, instance, seed), and claims of the runs and versions being
evaluated.

Rows that would break the new unique indexes are removed first, keeping the
earliest (the lowest id), which is the row an ``INSERT ... ON CONFLICT DO NOTHING``
would have kept: a later duplicate run goes with its episodes, a later duplicate
episode row alone. What was removed is printed (on stderr).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sys

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _say(message: str) -> None:
    # stderr: a command's stdout may be JSON for a script.
    print(f"migration 0002: {message}", file=sys.stderr)


def upgrade() -> None:
    bind = op.get_bind()
    later_runs = [
        row[0]
        for row in bind.execute(
            sa.text(
                "SELECT r.id FROM runs r WHERE EXISTS (SELECT 1 FROM runs e "
                "WHERE e.submission_id = r.submission_id AND e.environment_id = r.environment_id "
                "AND e.seeds_digest = r.seeds_digest AND e.id < r.id) ORDER BY r.id"
            )
        )
    ]
    if later_runs:
        for first in range(0, len(later_runs), 500):
            chunk = later_runs[first : first + 500]
            bind.execute(
                sa.text("DELETE FROM episodes WHERE run_id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": chunk},
            )
            bind.execute(
                sa.text("DELETE FROM runs WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": chunk},
            )
        _say(
            f"removed {len(later_runs)} duplicate runs (kept the earliest of each): "
            f"ids {', '.join(map(str, later_runs))}"
        )
    removed = bind.execute(
        sa.text(
            "DELETE FROM episodes WHERE id IN (SELECT d.id FROM episodes d JOIN episodes e "
            "ON e.run_id = d.run_id AND e.instance = d.instance AND e.seed = d.seed "
            "AND e.id < d.id)"
        )
    ).rowcount
    if removed:
        _say(
            f"removed {removed} duplicate episode rows (kept the earliest of each); their runs "
            "now fail validation if their episode count no longer matches"
        )

    op.create_index(
        "uq_runs_submission_environment_seeds",
        "runs",
        ["submission_id", "environment_id", "seeds_digest"],
        unique=True,
    )
    # The unique index leads with run_id, so it serves every lookup by run.
    op.create_index(
        "uq_episodes_run_instance_seed", "episodes", ["run_id", "instance", "seed"], unique=True
    )
    op.drop_index("ix_episodes_run_id", table_name="episodes")
    op.create_table(
        "run_claims",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("submission_name", sa.String(200), nullable=False),
        sa.Column("submission_version", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("seeds_digest", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "uq_run_claims_run",
        "run_claims",
        ["submission_name", "submission_version", "fingerprint", "seeds_digest"],
        unique=True,
    )
    op.create_table(
        "version_claims",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "uq_version_claims_name_version", "version_claims", ["name", "version"], unique=True
    )


def downgrade() -> None:
    op.drop_table("version_claims")
    op.drop_table("run_claims")
    op.create_index("ix_episodes_run_id", "episodes", ["run_id"])
    op.drop_index("uq_episodes_run_instance_seed", table_name="episodes")
    op.drop_index("uq_runs_submission_environment_seeds", table_name="runs")
