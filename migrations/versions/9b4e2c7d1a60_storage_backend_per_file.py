"""storage backend per file

- `submission_artifact.storage_backend`: which backend keeps a stored file ("local" or "s3"). Every existing file
  is on local disk (the only backend until now), so the column is filled with "local". `flask storage migrate
  --to s3` copies each file, verifies its SHA-256 and switches this column row by row, so reads keep working
  during a move and a re-run skips what was already moved.

Revision ID: 9b4e2c7d1a60
Revises: 7d3e9a1b2c4f
Create Date: 2026-12-02 09:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '9b4e2c7d1a60'
down_revision = '7d3e9a1b2c4f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submission_artifact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('storage_backend', sa.String(length=16), server_default='local',
                                      nullable=False))


def downgrade():
    # Before this revision every file was on local disk: forgetting that some are in S3 would lose them.
    moved = op.get_bind().execute(
        sa.text("SELECT COUNT(*) FROM submission_artifact WHERE storage_backend <> 'local'")).scalar()
    if moved:
        raise RuntimeError(f"{moved} stored file(s) are not on local disk: run `flask --app wsgi storage migrate "
                           "--to local` before downgrading past this revision.")
    with op.batch_alter_table('submission_artifact', schema=None) as batch_op:
        batch_op.drop_column('storage_backend')
