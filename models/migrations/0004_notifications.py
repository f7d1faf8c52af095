from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_points_ledger')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CallbackEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dedupe_key', fields.CharField(unique=True, max_length=120)),
                ('event', fields.CharField(max_length=40)),
                ('openid', fields.CharField(max_length=64)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'callback_events', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A push event already handled: WeChat retries deliveries, each must have one effect.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContentFlag',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('station_id', fields.IntField(null=True)),
                ('subject_type', fields.CharField(max_length=20)),
                ('subject_id', fields.IntField()),
                ('field', fields.CharField(max_length=30)),
                ('verdict', fields.CharField(max_length=12)),
                ('reason', fields.CharField(max_length=100)),
                ('author_id', fields.IntField()),
                ('resolved_by', fields.IntField(null=True)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'content_flags', 'app': 'models', 'indexes': [Index(fields=['station_id', 'resolved_at'])], 'pk_attr': 'id', 'table_description': 'User text saved but held for a worker\'s review: WeChat said "review", or could not be asked.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.IntField()),
                ('event', fields.CharField(max_length=40)),
                ('title', fields.CharField(max_length=60)),
                ('body', fields.CharField(max_length=300)),
                ('page', fields.CharField(null=True, max_length=200)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notifications', 'app': 'models', 'indexes': [Index(fields=['user_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notification_id', fields.BigIntField()),
                ('user_id', fields.IntField()),
                ('openid', fields.CharField(max_length=64)),
                ('template_id', fields.CharField(max_length=80)),
                ('page', fields.CharField(null=True, max_length=200)),
                ('data', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='pending', max_length=8)),
                ('attempts', fields.SmallIntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=200)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_messages', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A WeChat subscribe message waiting to be sent by a worker process (server.worker).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscriptionQuota',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.IntField()),
                ('template_id', fields.CharField(max_length=80)),
                ('remaining', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'subscription_quotas', 'app': 'models', 'unique_together': (('user_id', 'template_id'),), 'pk_attr': 'id', 'table_description': 'How many one-time subscribe messages a user has granted for a template and not yet used.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Redemption',
            name='reminded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Task',
            name='expiry_warned_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='nearby_km',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='nearby_lat',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='VolunteerProfile',
            name='nearby_lng',
            field=fields.FloatField(null=True),
        ),
    ]
