from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_service_workflow')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CreditBatch',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_by', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('count', fields.IntField(default=0)),
            ],
            options={'table': 'credit_batches', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One numbered export of credit increments for 信用威海 (海贝分).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditIncrement',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('batch', fields.ForeignKeyField('models.CreditBatch', source_field='batch_id', db_constraint=True, to_field='id', related_name='increments', on_delete=OnDelete.RESTRICT)),
                ('user_id', fields.IntField()),
                ('volunteer_id', fields.IntField()),
                ('threshold_hours', fields.IntField()),
                ('increment', fields.IntField()),
                ('hours', fields.FloatField()),
                ('id_number_masked', fields.CharField(null=True, max_length=20)),
                ('id_number_index', fields.CharField(null=True, max_length=64)),
                ('evidence_task_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'credit_increments', 'app': 'models', 'unique_together': (('user_id', 'threshold_hours'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.IntField()),
                ('key', fields.CharField(max_length=100)),
                ('request_hash', fields.CharField(max_length=64)),
                ('status_code', fields.SmallIntField()),
                ('response', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_records', 'app': 'models', 'unique_together': (('user_id', 'key'),), 'pk_attr': 'id', 'table_description': 'The answer once given to a request carrying an Idempotency-Key, to replay it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointsAccount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='points_account', on_delete=OnDelete.RESTRICT)),
                ('balance', fields.IntField(default=0)),
                ('owed', fields.IntField(default=0)),
                ('earned', fields.IntField(default=0)),
                ('spent', fields.IntField(default=0)),
                ('verified_minutes', fields.IntField(default=0)),
                ('award_count', fields.IntField(default=0)),
                ('cap_day', fields.CharField(default='', max_length=8)),
                ('cap_day_points', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'points_accounts', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointsEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.PointsAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.IntField()),
                ('kind', fields.CharField(max_length=20)),
                ('ref_type', fields.CharField(null=True, max_length=20)),
                ('ref_id', fields.IntField(null=True)),
                ('idempotency_key', fields.CharField(unique=True, max_length=100)),
                ('actor_id', fields.IntField(null=True)),
                ('reason', fields.CharField(null=True, max_length=200)),
                ('minutes', fields.IntField(default=0)),
                ('balance_after', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'points_entries', 'app': 'models', 'indexes': [Index(fields=['account_id', 'id']), Index(fields=['kind', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PointsRules',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.IntField(unique=True)),
                ('rules', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'points_rules', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Earning rules, one row per version. The newest version is in force.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reward',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=60)),
                ('donor', fields.CharField(max_length=80)),
                ('donor_kind', fields.CharField(default='enterprise', max_length=20)),
                ('description', fields.CharField(default='', max_length=500)),
                ('price', fields.IntField()),
                ('total_stock', fields.IntField()),
                ('stock', fields.IntField()),
                ('per_person_limit', fields.IntField(default=1)),
                ('valid_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('pickup_station_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='active', max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'rewards', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A reward donated by a caring enterprise, unit or individual (任务四: 爱心企业).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reward', fields.ForeignKeyField('models.Reward', source_field='reward_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('account', fields.ForeignKeyField('models.PointsAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('points', fields.IntField()),
                ('status', fields.CharField(default='pending', max_length=10)),
                ('pickup_code', fields.CharField(unique=True, max_length=8)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('fulfilled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('fulfilled_by', fields.IntField(null=True)),
                ('fulfilled_station_id', fields.IntField(null=True)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'redemptions', 'app': 'models', 'indexes': [Index(fields=['status', 'expires_at']), Index(fields=['account_id', 'reward_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='id_number_enc',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='id_number_index',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='id_number_masked',
            field=fields.CharField(null=True, max_length=20),
        ),
    ]
