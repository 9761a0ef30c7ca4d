"""Initial schema: the PRD tables and what the GitHub App needs beside them.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 10:15:44.244848
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('name', name=op.f('uq_agents_name'))
    )
    op.create_table('installations',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('account_login', sa.String(length=200), nullable=False),
    sa.Column('account_type', sa.String(length=50), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installations'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=True),
    sa.Column('group_key', sa.String(length=300), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('run_after', sa.DateTime(), nullable=False),
    sa.Column('lease_owner', sa.String(length=200), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    sa.UniqueConstraint('key', name=op.f('uq_jobs_key'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('idx_jobs_pending', ['run_after', 'id'], unique=False, sqlite_where=sa.text("status IN ('queued', 'running')"), postgresql_where=sa.text("status IN ('queued', 'running')"))
        batch_op.create_index('uq_jobs_running_group', ['group_key'], unique=True, sqlite_where=sa.text("status = 'running'"), postgresql_where=sa.text("status = 'running'"))

    op.create_table('rule_statistics',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('repository_key', sa.String(length=500), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('area', sa.String(length=300), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('suppressed_reason', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_statistics')),
    sa.UniqueConstraint('repository_key', 'rule_id', 'area', name='uq_rule_statistics_key')
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=True),
    sa.Column('installation_id', sa.BigInteger(), nullable=True),
    sa.Column('repository_id', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('outcome', sa.String(length=50), nullable=True),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('delivery_id', name=op.f('uq_webhook_deliveries_delivery_id'))
    )
    op.create_table('repositories',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('installation_id', sa.BigInteger(), nullable=True),
    sa.Column('full_name', sa.String(length=300), nullable=False),
    sa.Column('default_branch', sa.String(length=300), nullable=True),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('added_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['installation_id'], ['installations.id'], name=op.f('fk_repositories_installation_id_installations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repositories'))
    )
    op.create_table('modification_sessions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=True),
    sa.Column('codebase_path', sa.String(length=500), nullable=False),
    sa.Column('modification_goals', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('safety_level', sa.Enum('conservative', 'moderate', 'aggressive', name='modification_safety'), server_default='conservative', nullable=True),
    sa.Column('status', sa.Enum('analyzing', 'generating', 'validating', 'testing', 'benchmarking', 'proposing', 'completed', 'failed', 'cancelled', name='modification_status'), server_default='analyzing', nullable=True),
    sa.Column('started_at', sa.DateTime(), server_default=sa.func.now(), nullable=True),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('success_rate', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('repository_id', sa.BigInteger(), nullable=True),
    sa.Column('commit_sha', sa.String(length=64), nullable=True),
    sa.Column('trigger', sa.String(length=50), nullable=True),
    sa.Column('report', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_modification_sessions_agent_id_agents')),
    sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], name=op.f('fk_modification_sessions_repository_id_repositories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_modification_sessions'))
    )
    op.create_table('code_modifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=True),
    sa.Column('file_path', sa.String(length=500), nullable=False),
    sa.Column('modification_type', sa.String(length=100), nullable=True),
    sa.Column('original_content', sa.Text(), nullable=True),
    sa.Column('modified_content', sa.Text(), nullable=True),
    sa.Column('modification_reason', sa.Text(), nullable=True),
    sa.Column('safety_score', sa.Numeric(precision=3, scale=2), nullable=True),
    sa.Column('performance_impact', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('applied_at', sa.DateTime(), nullable=True),
    sa.Column('rollback_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=True),
    sa.Column('diff', sa.Text(), nullable=True),
    sa.Column('files', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('rejection_reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('branch', sa.String(length=300), nullable=True),
    sa.Column('commit_sha', sa.String(length=64), nullable=True),
    sa.Column('base_sha', sa.String(length=64), nullable=True),
    sa.Column('merge_commit_sha', sa.String(length=64), nullable=True),
    sa.Column('pull_request_number', sa.Integer(), nullable=True),
    sa.Column('pull_request_url', sa.String(length=500), nullable=True),
    sa.Column('rollback_reason', sa.Text(), nullable=True),
    sa.Column('revert_pull_request_number', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['modification_sessions.id'], name=op.f('fk_code_modifications_session_id_modification_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_modifications'))
    )
    with op.batch_alter_table('code_modifications', schema=None) as batch_op:
        batch_op.create_index('idx_modifications_session', ['session_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('modification_id', sa.Uuid(), nullable=True),
    sa.Column('repository_id', sa.BigInteger(), nullable=True),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['modification_id'], ['code_modifications.id'], name=op.f('fk_feedback_modification_id_code_modifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    op.create_table('modification_metrics',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('modification_id', sa.Uuid(), nullable=True),
    sa.Column('metric_name', sa.String(length=100), nullable=True),
    sa.Column('baseline_value', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('modified_value', sa.Numeric(precision=10, scale=4), nullable=True),
    sa.Column('improvement_percentage', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('measured_at', sa.DateTime(), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['modification_id'], ['code_modifications.id'], name=op.f('fk_modification_metrics_modification_id_code_modifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_modification_metrics'))
    )
    with op.batch_alter_table('modification_metrics', schema=None) as batch_op:
        batch_op.create_index('idx_metrics_modification', ['modification_id'], unique=False)

    op.create_table('sandbox_executions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('modification_id', sa.Uuid(), nullable=True),
    sa.Column('execution_type', sa.String(length=50), nullable=True),
    sa.Column('command', sa.Text(), nullable=True),
    sa.Column('stdout', sa.Text(), nullable=True),
    sa.Column('stderr', sa.Text(), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('execution_time_ms', sa.Integer(), nullable=True),
    sa.Column('memory_usage_mb', sa.Integer(), nullable=True),
    sa.Column('executed_at', sa.DateTime(), server_default=sa.func.now(), nullable=True),
    sa.Column('session_id', sa.Uuid(), nullable=True),
    sa.Column('killed_reason', sa.String(length=50), nullable=True),
    sa.Column('security_violations', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['modification_id'], ['code_modifications.id'], name=op.f('fk_sandbox_executions_modification_id_code_modifications')),
    sa.ForeignKeyConstraint(['session_id'], ['modification_sessions.id'], name=op.f('fk_sandbox_executions_session_id_modification_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_executions'))
    )


def downgrade() -> None:
    op.drop_table('sandbox_executions')
    with op.batch_alter_table('modification_metrics', schema=None) as batch_op:
        batch_op.drop_index('idx_metrics_modification')

    op.drop_table('modification_metrics')
    op.drop_table('feedback')
    with op.batch_alter_table('code_modifications', schema=None) as batch_op:
        batch_op.drop_index('idx_modifications_session')

    op.drop_table('code_modifications')
    op.drop_table('modification_sessions')
    op.drop_table('repositories')
    op.drop_table('webhook_deliveries')
    op.drop_table('rule_statistics')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('uq_jobs_running_group')
        batch_op.drop_index('idx_jobs_pending')

    op.drop_table('jobs')
    op.drop_table('installations')
    op.drop_table('agents')
    # PostgreSQL keeps enum types after their tables are gone.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS modification_status")
        op.execute("DROP TYPE IF EXISTS modification_safety")
