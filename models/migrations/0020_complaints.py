from tortoise import migrations
from tortoise.migrations import operations as ops
from models.sealed import SealedText
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0019_need_follow_up_note')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Complaint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('station', fields.ForeignKeyField('models.Station', source_field='station_id', db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('complainant_user_id', fields.IntField(null=True)),
                ('resident_id', fields.IntField(null=True)),
                ('filed_by', fields.IntField()),
                ('subject', fields.CharField(max_length=10)),
                ('subject_id', fields.IntField(null=True)),
                ('text', SealedText(context='complaints.text')),
                ('status', fields.CharField(default='open', max_length=10)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('answer', SealedText(null=True, context='complaints.answer')),
                ('answered_by', fields.IntField(null=True)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reopen_count', fields.SmallIntField(default=0)),
                ('reopen_reason', fields.CharField(null=True, max_length=200)),
                ('escalated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'complaints', 'app': 'models', 'indexes': [Index(fields=['station_id', 'status']), Index(fields=['status', 'due_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
