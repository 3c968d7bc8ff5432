"""Baseline: the schema as it was before revisions were recorded.

A database written before then (the four tables, no ``alembic_version``) is
stamped with this revision and upgraded from here.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("privileged", sa.Boolean(), nullable=False),
        sa.Column("n_instances", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_submission_name_version"),
    )
    op.create_index("ix_submissions_checksum", "submissions", ["checksum"])
    op.create_table(
        "environments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("family", sa.String(100), nullable=False),
        sa.Column("split", sa.String(100), nullable=False),
        sa.Column("env_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_environments_family", "environments", ["family"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id",
            sa.Integer(),
            sa.ForeignKey("submissions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "environment_id",
            sa.Integer(),
            sa.ForeignKey("environments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seeds_digest", sa.String(64), nullable=False),
        sa.Column("n_episodes", sa.Integer(), nullable=False),
        sa.Column("n_instances", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("code_version", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_runs_submission_id", "runs", ["submission_id"])
    op.create_index("ix_runs_environment_id", "runs", ["environment_id"])
    op.create_table(
        "episodes",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("termination", sa.String(64), nullable=False),
        sa.Column("objectives", sa.Text(), nullable=False),
    )
    op.create_index("ix_episodes_run_id", "episodes", ["run_id"])


def downgrade() -> None:
    for table in ("episodes", "runs", "environments", "submissions"):
        op.drop_table(table)
