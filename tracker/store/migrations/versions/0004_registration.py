"""Registration of each photo to its view's baseline photo, ROIs placed by hand per photo,
and how each measurement's ROI was placed.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photo_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("baseline_photo_id", sa.Integer(), nullable=False),
        sa.Column("matrix", sa.JSON(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("n_inliers", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("algorithm_version", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photo.id"],
            name=op.f("fk_photo_registration_photo_id_photo"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["baseline_photo_id"],
            ["photo.id"],
            name=op.f("fk_photo_registration_baseline_photo_id_photo"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photo_registration")),
    )
    op.create_index("ix_photo_registration_photo_id_id", "photo_registration", ["photo_id", "id"])
    op.create_table(
        "photo_roi",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("w", sa.Integer(), nullable=False),
        sa.Column("h", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photo.id"],
            name=op.f("fk_photo_roi_photo_id_photo"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photo_roi")),
    )
    op.create_index("ix_photo_roi_photo_id_id", "photo_roi", ["photo_id", "id"])
    with op.batch_alter_table("measurement") as batch:
        batch.add_column(
            sa.Column("roi_source", sa.String(20), nullable=False, server_default="whole_photo")
        )
        batch.add_column(sa.Column("registration_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("registration_score", sa.Float(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_measurement_registration_id_photo_registration"),
            "photo_registration",
            ["registration_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # Before 0004 a view's ROI was used unchanged on every photo, without registration.
    op.execute("UPDATE measurement SET roi_source = 'unregistered' WHERE roi_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("measurement") as batch:
        batch.drop_constraint(op.f("fk_measurement_registration_id_photo_registration"), type_="foreignkey")
        batch.drop_column("registration_score")
        batch.drop_column("registration_id")
        batch.drop_column("roi_source")
    op.drop_index("ix_photo_roi_photo_id_id", table_name="photo_roi")
    op.drop_table("photo_roi")
    op.drop_index("ix_photo_registration_photo_id_id", table_name="photo_registration")
    op.drop_table("photo_registration")
