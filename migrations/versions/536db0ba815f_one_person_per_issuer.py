"""one person per issuer

A platform's `sub` names one person for the whole issuer (LTI 1.3 Core §5.3.6), so `lti_user` becomes unique on
(issuer, sub) instead of (registration_id, sub); `registration_id` stays as the registration through which the
person was first seen. People an issuer reached the tool with through two registrations (two tool types, two client
ids) are merged: the oldest is kept and every row that refers to the others (found from the schema's foreign keys)
now refers to it. Nothing is lost where a merge would break a unique rule:
- two memberships of one course become one (the roles and status last written);
- any other collision (two enrollments in the same micro-credential and term, two assessor grants of one
  micro-credential, two earner profiles) leaves that duplicate unmerged, with all of its rows, and its `sub` marked
  `unmerged:<id>:<sub>` so that launches reach the kept person; the kept person is then the one with more work in
  the colliding enrollments (submitted attempts, then attempts), the oldest on a tie. Each decision is logged.
The downgrade does not split merged people again.

Launch nonces are now consumed in the cache (one atomic add), so the `lti_used_nonce` table goes; the downgrade
creates it again, empty (a nonce outlives its token by minutes only).

Revision ID: 536db0ba815f
Revises: c155e27f7f92
Create Date: 2026-12-02 03:06:03.178454

"""
import logging

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '536db0ba815f'
down_revision = 'c155e27f7f92'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

PROFILE_FIELDS = ("name", "given_name", "family_name", "email")
MERGED_IN_PLACE = {"lti_membership"}  # a course membership is rewritten by every launch and roster sync
SUB_LENGTH = 255


def upgrade():
    with op.batch_alter_table('lti_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issuer', sa.String(length=500), nullable=True))
    op.execute("UPDATE lti_user SET issuer = (SELECT lti_registration.issuer FROM lti_registration "
               "WHERE lti_registration.id = lti_user.registration_id)")
    _merge_people(op.get_bind())
    with op.batch_alter_table('lti_user', schema=None) as batch_op:
        batch_op.alter_column('issuer', existing_type=sa.String(length=500), nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_lti_user_registration_id_sub'), type_='unique')
        batch_op.create_index(batch_op.f('ix_lti_user_registration_id'), ['registration_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_lti_user_issuer_sub'), ['issuer', 'sub'])

    with op.batch_alter_table('lti_used_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_used_nonce_expires_at'))
    op.drop_table('lti_used_nonce')


def downgrade():
    with op.batch_alter_table('lti_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_lti_user_issuer_sub'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_lti_user_registration_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_lti_user_registration_id_sub'), ['registration_id', 'sub'])
        batch_op.drop_column('issuer')

    op.create_table('lti_used_nonce',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('nonce', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_used_nonce')),
    sa.UniqueConstraint('issuer', 'nonce', name=op.f('uq_lti_used_nonce_issuer_nonce'))
    )
    with op.batch_alter_table('lti_used_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_used_nonce_expires_at'), ['expires_at'], unique=False)


# -- merging the people one issuer reached the tool with through several registrations ----------------------------
def _merge_people(bind) -> None:
    metadata = sa.MetaData()
    metadata.reflect(bind=bind)
    users = metadata.tables["lti_user"]
    # Every column that refers to a person, read from the schema so that no table is missed.
    references = [(table, fk.parent) for table in metadata.sorted_tables for fk in table.foreign_keys
                  if fk.column.table.name == "lti_user" and table.name != "lti_user"]
    groups = bind.execute(
        sa.select(users.c.issuer, users.c.sub).group_by(users.c.issuer, users.c.sub).having(sa.func.count() > 1)
        .order_by(users.c.issuer, users.c.sub)).all()
    for issuer, sub in groups:
        people = [dict(row) for row in bind.execute(
            sa.select(users).where(users.c.issuer == issuer, users.c.sub == sub)
            .order_by(users.c.created_at, users.c.id)).mappings()]
        keeper = _keeper(bind, metadata, people)
        for person in people:
            if person["id"] == keeper["id"]:
                continue
            collisions = [table.name for table, column in references if table.name not in MERGED_IN_PLACE
                          and _collides(bind, table, column, person["id"], keeper["id"])]
            if collisions:
                marked = f"unmerged:{person['id']}:{sub}"[:SUB_LENGTH]
                bind.execute(users.update().where(users.c.id == person["id"]).values(sub=marked))
                log.warning("lti_user %s (issuer %s, sub %s) is the same person as lti_user %s but both have rows "
                            "in %s: kept apart, with sub %r", person["id"], issuer, sub, keeper["id"],
                            ", ".join(sorted(set(collisions))), marked)
                continue
            moved = {}
            for table, column in references:
                if table.name in MERGED_IN_PLACE:
                    _merge_in_place(bind, table, column, person["id"], keeper["id"])
                result = bind.execute(table.update().where(column == person["id"]).values({column.name: keeper["id"]}))
                if result.rowcount:
                    moved[f"{table.name}.{column.name}"] = result.rowcount
            _complete_profile(bind, users, keeper, person)
            bind.execute(users.delete().where(users.c.id == person["id"]))
            log.info("lti_user %s (issuer %s, sub %s) merged into lti_user %s: %s", person["id"], issuer, sub,
                     keeper["id"], moved or "no rows referred to it")


def _unique_column_sets(table: sa.Table, column: sa.Column) -> list[list[str]]:
    """The other columns of each unique rule of `table` that includes `column`."""
    sets = [list(c.columns.keys()) for c in table.constraints if isinstance(c, sa.UniqueConstraint)]
    sets += [list(i.columns.keys()) for i in table.indexes if i.unique]
    return [[name for name in names if name != column.name] for names in sets if column.name in names]


def _collides(bind, table: sa.Table, column: sa.Column, person_id: int, keeper_id: int) -> bool:
    """Would a row of `person_id` break a unique rule of `table` if it referred to `keeper_id`?"""
    for others in _unique_column_sets(table, column):
        mine, theirs = table.alias("mine"), table.alias("theirs")
        same = sa.and_(sa.true(), *(mine.c[name] == theirs.c[name] for name in others))
        found = bind.execute(
            sa.select(sa.func.count()).select_from(mine.join(theirs, same))
            .where(mine.c[column.name] == person_id, theirs.c[column.name] == keeper_id)).scalar()
        if found:
            return True
    return False


def _merge_in_place(bind, table: sa.Table, column: sa.Column, person_id: int, keeper_id: int) -> None:
    """Two memberships of one course: the keeper's row takes the roles and status written last; the other goes."""
    for others in _unique_column_sets(table, column):
        mine, theirs = table.alias("mine"), table.alias("theirs")
        pairs = bind.execute(
            sa.select(mine, theirs.c.id.label("keeper_row_id"), theirs.c.updated_at.label("keeper_updated_at"))
            .select_from(mine.join(theirs, sa.and_(sa.true(), *(mine.c[n] == theirs.c[n] for n in others))))
            .where(mine.c[column.name] == person_id, theirs.c[column.name] == keeper_id)).mappings().all()
        for pair in pairs:
            if pair["updated_at"] > pair["keeper_updated_at"]:
                bind.execute(table.update().where(table.c.id == pair["keeper_row_id"]).values(
                    roles=pair["roles"], status=pair["status"], updated_at=pair["updated_at"]))
            bind.execute(table.delete().where(table.c.id == pair["id"]))
            log.info("%s %s of lti_user %s merged into %s %s", table.name, pair["id"], person_id, table.name,
                     pair["keeper_row_id"])


def _keeper(bind, metadata: sa.MetaData, people) -> dict:
    """The oldest, unless others hold more work in enrollments that collide (same micro-credential and term)."""
    if "submission_enrollment" not in metadata.tables or "submission_attempt" not in metadata.tables:
        return people[0]
    enrollments, attempts = metadata.tables["submission_enrollment"], metadata.tables["submission_attempt"]
    ids = [person["id"] for person in people]
    rows = bind.execute(
        sa.select(enrollments.c.user_id, enrollments.c.microcredential_id, enrollments.c.term_id,
                  sa.func.count(attempts.c.submitted_at), sa.func.count(attempts.c.id))
        .select_from(enrollments.outerjoin(attempts, attempts.c.enrollment_id == enrollments.c.id))
        .where(enrollments.c.user_id.in_(ids))
        .group_by(enrollments.c.id, enrollments.c.user_id, enrollments.c.microcredential_id, enrollments.c.term_id)
    ).all()
    holders: dict[tuple, int] = {}
    for _user_id, microcredential_id, term_id, *_ in rows:
        holders[(microcredential_id, term_id)] = holders.get((microcredential_id, term_id), 0) + 1
    work = dict.fromkeys(ids, (0, 0))
    for user_id, microcredential_id, term_id, submitted, started in rows:
        if holders[(microcredential_id, term_id)] > 1:
            work[user_id] = (work[user_id][0] + submitted, work[user_id][1] + started)
    most = max(work.values())
    return next(person for person in people if work[person["id"]] == most)


def _complete_profile(bind, users: sa.Table, keeper: dict, person: dict) -> None:
    """The keeper keeps its own name and email, and takes the duplicate's where it has none."""
    values = {field: person[field] for field in PROFILE_FIELDS if keeper[field] is None and person[field] is not None}
    launched = [at for at in (keeper["last_launch_at"], person["last_launch_at"]) if at is not None]
    if launched and max(launched) != keeper["last_launch_at"]:
        values["last_launch_at"] = max(launched)
    if values:
        bind.execute(users.update().where(users.c.id == keeper["id"]).values(values))
        keeper.update(values)
