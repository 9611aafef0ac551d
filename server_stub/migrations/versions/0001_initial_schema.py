"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 02:38:21.868991
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server_stub.db.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('appointment',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('campus_id', sa.String(length=64), nullable=False),
    sa.Column('schedule_id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('doctor_id', sa.String(length=64), nullable=False),
    sa.Column('room_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('slot_time', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=18), nullable=False),
    sa.Column('channel', sa.String(length=13), nullable=False),
    sa.Column('pre_consult_text', sa.String(length=2000), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment')),
    sa.UniqueConstraint('number', name=op.f('uq_appointment_number'))
    )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index('ix_appointment_campus_id', ['campus_id'], unique=False)
        batch_op.create_index('ix_appointment_number', ['number'], unique=False)
        batch_op.create_index('ix_appointment_patient_id', ['patient_id'], unique=False)
        batch_op.create_index('ix_appointment_schedule_id', ['schedule_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.Column('staff_id', sa.String(length=64), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('device_id', sa.String(length=128), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('auth_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=128), nullable=False),
    sa.Column('campus_id', sa.String(length=64), nullable=True),
    sa.Column('issued_at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.Column('expires_at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_auth_token'))
    )
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_token_staff_id'), ['staff_id'], unique=False)

    op.create_table('campus',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('hospital_name', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campus')),
    sa.UniqueConstraint('code', name=op.f('uq_campus_code'))
    )
    op.create_table('change_index',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_change_index')),
    sa.UniqueConstraint('kind', 'entity_id', name='uq_change_index_kind_entity')
    )
    op.create_table('department',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('campus_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('queue_prefix', sa.String(length=4), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_department')),
    sa.UniqueConstraint('code', name=op.f('uq_department_code'))
    )
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.create_index('ix_department_campus_id', ['campus_id'], unique=False)

    op.create_table('diagnosis',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.Column('pinyin', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnosis')),
    sa.UniqueConstraint('code', name=op.f('uq_diagnosis_code'))
    )
    with op.batch_alter_table('diagnosis', schema=None) as batch_op:
        batch_op.create_index('ix_diagnosis_pinyin', ['pinyin'], unique=False)

    op.create_table('drug',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('generic_name', sa.String(length=100), nullable=False),
    sa.Column('trade_name', sa.String(length=100), nullable=False),
    sa.Column('english_name', sa.String(length=200), nullable=False),
    sa.Column('pinyin', sa.String(length=100), nullable=False),
    sa.Column('spec', sa.String(length=100), nullable=False),
    sa.Column('form', sa.String(length=32), nullable=False),
    sa.Column('pack_unit', sa.String(length=16), nullable=False),
    sa.Column('pack_qty', sa.BigInteger(), nullable=False),
    sa.Column('min_unit', sa.String(length=16), nullable=False),
    sa.Column('dose_per_min_unit', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('dose_unit', sa.String(length=16), nullable=False),
    sa.Column('default_dose', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('default_route', sa.String(length=16), nullable=False),
    sa.Column('default_frequency', sa.String(length=16), nullable=False),
    sa.Column('price', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('controlled_class', sa.String(length=21), nullable=False),
    sa.Column('internet_rx_restricted', sa.Boolean(), nullable=False),
    sa.Column('dose_min', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('dose_max', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('skin_test', sa.Boolean(), nullable=False),
    sa.Column('min_stock', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drug')),
    sa.UniqueConstraint('code', name=op.f('uq_drug_code'))
    )
    with op.batch_alter_table('drug', schema=None) as batch_op:
        batch_op.create_index('ix_drug_pinyin', ['pinyin'], unique=False)

    op.create_table('exam_item',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=15), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('pinyin', sa.String(length=100), nullable=False),
    sa.Column('specimen_or_site', sa.String(length=100), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('price', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exam_item')),
    sa.UniqueConstraint('code', name=op.f('uq_exam_item_code'))
    )
    op.create_table('frequency',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=32), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=False),
    sa.Column('times_per_day', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('interval_days', sa.BigInteger(), nullable=False),
    sa.Column('plain_zh', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_frequency')),
    sa.UniqueConstraint('code', name=op.f('uq_frequency_code'))
    )
    op.create_table('mutation_log',
    sa.Column('mutation_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('client_seq', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('occurred_at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.Column('received_at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('mutation_id', name=op.f('pk_mutation_log')),
    sa.UniqueConstraint('client_id', 'client_seq', name='uq_mutation_log_client_seq')
    )
    op.create_table('patient',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('mrn', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_pinyin', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.String(length=9), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('id_type', sa.String(length=23), nullable=False),
    sa.Column('id_number', sa.String(length=32), nullable=True),
    sa.Column('id_number_tail', sa.String(length=8), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('allergies', sa.JSON(), nullable=False),
    sa.Column('registered_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient')),
    sa.UniqueConstraint('mrn', name=op.f('uq_patient_mrn'))
    )
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index('ix_patient_id_number_tail', ['id_number_tail'], unique=False)
        batch_op.create_index('ix_patient_name', ['name'], unique=False)
        batch_op.create_index('ix_patient_name_pinyin', ['name_pinyin'], unique=False)
        batch_op.create_index('ix_patient_phone', ['phone'], unique=False)

    op.create_table('pharmacy',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('campus_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=18), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pharmacy')),
    sa.UniqueConstraint('code', name=op.f('uq_pharmacy_code'))
    )
    with op.batch_alter_table('pharmacy', schema=None) as batch_op:
        batch_op.create_index('ix_pharmacy_campus_id', ['campus_id'], unique=False)

    op.create_table('room',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('campus_id', sa.String(length=64), nullable=False),
    sa.Column('department_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('floor', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room')),
    sa.UniqueConstraint('code', name=op.f('uq_room_code'))
    )
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.create_index('ix_room_campus_id', ['campus_id'], unique=False)
        batch_op.create_index('ix_room_department_id', ['department_id'], unique=False)

    op.create_table('route',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=32), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=False),
    sa.Column('plain_zh', sa.String(length=32), nullable=False),
    sa.Column('is_injection', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route')),
    sa.UniqueConstraint('code', name=op.f('uq_route_code'))
    )
    op.create_table('schedule',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('campus_id', sa.String(length=64), nullable=False),
    sa.Column('department_id', sa.String(length=64), nullable=False),
    sa.Column('doctor_id', sa.String(length=64), nullable=False),
    sa.Column('room_id', sa.String(length=64), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('session', sa.String(length=13), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.Column('slot_minutes', sa.BigInteger(), nullable=False),
    sa.Column('capacity', sa.BigInteger(), nullable=False),
    sa.Column('registration_level', sa.String(length=18), nullable=False),
    sa.Column('fee', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule'))
    )
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_campus_id', ['campus_id'], unique=False)
        batch_op.create_index('ix_schedule_date', ['date'], unique=False)
        batch_op.create_index('ix_schedule_doctor_id', ['doctor_id'], unique=False)

    op.create_table('staff',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('campus_id', sa.String(length=64), nullable=True),
    sa.Column('department_id', sa.String(length=64), nullable=True),
    sa.Column('prescribing_rights', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('signing_public_key', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_username'))
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.create_index('ix_staff_department_id', ['department_id'], unique=False)

    op.create_table('staff_credential',
    sa.Column('staff_id', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('failed_count', sa.Integer(), nullable=False),
    sa.Column('locked_until', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('changed_at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('staff_id', name=op.f('pk_staff_credential'))
    )
    op.create_table('sync_client',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=128), nullable=False),
    sa.Column('staff_id', sa.String(length=64), nullable=True),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.Column('last_push_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_sync_client'))
    )
    op.create_table('sync_counter',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sync_counter'))
    )
    op.create_table('visit',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', server_stub.db.tables.UTCDateTime(), nullable=True),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('campus_id', sa.String(length=64), nullable=False),
    sa.Column('department_id', sa.String(length=64), nullable=False),
    sa.Column('doctor_id', sa.String(length=64), nullable=True),
    sa.Column('room_id', sa.String(length=64), nullable=True),
    sa.Column('appointment_id', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=19), nullable=False),
    sa.Column('status', sa.String(length=17), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=False),
    sa.Column('opened_at', server_stub.db.tables.UTCDateTime(), nullable=False),
    sa.Column('opened_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit'))
    )
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index('ix_visit_campus_id', ['campus_id'], unique=False)
        batch_op.create_index('ix_visit_doctor_id', ['doctor_id'], unique=False)
        batch_op.create_index('ix_visit_patient_id', ['patient_id'], unique=False)
        batch_op.create_index('ix_visit_visit_date', ['visit_date'], unique=False)

    # Seed rows the server relies on: feed and record-number counters, the audit chain's head.
    op.bulk_insert(
        sa.table("sync_counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "change_seq", "value": 0}, {"name": "min_cursor", "value": 0}, {"name": "mrn", "value": 0}],
    )
    op.bulk_insert(
        sa.table("audit_head", sa.column("id", sa.Integer), sa.column("last_id", sa.BigInteger),
                 sa.column("last_hash", sa.String)),
        [{"id": 1, "last_id": 0, "last_hash": "0" * 64}],
    )


def downgrade() -> None:
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_visit_date')
        batch_op.drop_index('ix_visit_patient_id')
        batch_op.drop_index('ix_visit_doctor_id')
        batch_op.drop_index('ix_visit_campus_id')

    op.drop_table('visit')
    op.drop_table('sync_counter')
    op.drop_table('sync_client')
    op.drop_table('staff_credential')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_department_id')

    op.drop_table('staff')
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_doctor_id')
        batch_op.drop_index('ix_schedule_date')
        batch_op.drop_index('ix_schedule_campus_id')

    op.drop_table('schedule')
    op.drop_table('route')
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.drop_index('ix_room_department_id')
        batch_op.drop_index('ix_room_campus_id')

    op.drop_table('room')
    with op.batch_alter_table('pharmacy', schema=None) as batch_op:
        batch_op.drop_index('ix_pharmacy_campus_id')

    op.drop_table('pharmacy')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_phone')
        batch_op.drop_index('ix_patient_name_pinyin')
        batch_op.drop_index('ix_patient_name')
        batch_op.drop_index('ix_patient_id_number_tail')

    op.drop_table('patient')
    op.drop_table('mutation_log')
    op.drop_table('frequency')
    op.drop_table('exam_item')
    with op.batch_alter_table('drug', schema=None) as batch_op:
        batch_op.drop_index('ix_drug_pinyin')

    op.drop_table('drug')
    with op.batch_alter_table('diagnosis', schema=None) as batch_op:
        batch_op.drop_index('ix_diagnosis_pinyin')

    op.drop_table('diagnosis')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_index('ix_department_campus_id')

    op.drop_table('department')
    op.drop_table('change_index')
    op.drop_table('campus')
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_token_staff_id'))

    op.drop_table('auth_token')
    op.drop_table('audit_log')
    op.drop_table('audit_head')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index('ix_appointment_schedule_id')
        batch_op.drop_index('ix_appointment_patient_id')
        batch_op.drop_index('ix_appointment_number')
        batch_op.drop_index('ix_appointment_campus_id')

    op.drop_table('appointment')
