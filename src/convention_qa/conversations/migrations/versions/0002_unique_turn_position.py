"""One position per turn in a conversation: replicas answering in the same conversation at the
same instant cannot both take the same place (the loser retries with the next one).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_index("uq_turns_conversation_position", "turns", ["conversation_id", "position"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_turns_conversation_position", table_name="turns")
