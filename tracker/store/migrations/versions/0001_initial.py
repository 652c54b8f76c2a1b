"""Patients, identities, visits, photos, ROIs and measurements.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
        sa.UniqueConstraint("code", name=op.f("uq_patient_code")),
    )
    op.create_table(
        "patient_identity",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            ondelete="CASCADE",
            name=op.f("fk_patient_identity_patient_id_patient"),
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patient_identity")),
    )
    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            ondelete="CASCADE",
            name=op.f("fk_visit_patient_id_patient"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit")),
    )
    op.create_index(op.f("ix_visit_patient_id"), "visit", ["patient_id"])
    op.create_table(
        "photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("capture_metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
            ondelete="CASCADE",
            name=op.f("fk_photo_visit_id_visit"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photo")),
        sa.UniqueConstraint("sha256", name=op.f("uq_photo_sha256")),
    )
    op.create_index(op.f("ix_photo_visit_id"), "photo", ["visit_id"])
    op.create_table(
        "roi",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(100), nullable=False),
        sa.Column("baseline_photo_id", sa.Integer(), nullable=True),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("w", sa.Integer(), nullable=False),
        sa.Column("h", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            ondelete="CASCADE",
            name=op.f("fk_roi_patient_id_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["baseline_photo_id"],
            ["photo.id"],
            ondelete="SET NULL",
            name=op.f("fk_roi_baseline_photo_id_photo"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roi")),
    )
    op.create_index("ix_roi_patient_view", "roi", ["patient_id", "view"])
    op.create_table(
        "measurement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("roi_id", sa.Integer(), nullable=True),
        sa.Column("roi_x", sa.Integer(), nullable=False),
        sa.Column("roi_y", sa.Integer(), nullable=False),
        sa.Column("roi_w", sa.Integer(), nullable=False),
        sa.Column("roi_h", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("coverage_pct", sa.Float(), nullable=True),
        sa.Column("hair_count", sa.Integer(), nullable=True),
        sa.Column("mean_width_px", sa.Float(), nullable=True),
        sa.Column("mean_width_um", sa.Float(), nullable=True),
        sa.Column("density_per_cm2", sa.Float(), nullable=True),
        sa.Column("thin_hair_pct", sa.Float(), nullable=True),
        sa.Column("quality_status", sa.String(10), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("px_per_mm", sa.Float(), nullable=True),
        sa.Column("scale_source", sa.String(20), nullable=False),
        sa.Column("algorithm_version", sa.String(50), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photo.id"],
            ondelete="CASCADE",
            name=op.f("fk_measurement_photo_id_photo"),
        ),
        sa.ForeignKeyConstraint(
            ["roi_id"],
            ["roi.id"],
            ondelete="SET NULL",
            name=op.f("fk_measurement_roi_id_roi"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurement")),
    )


def downgrade() -> None:
    for table in ("measurement", "roi", "photo", "visit", "patient_identity", "patient"):
        op.drop_table(table)
