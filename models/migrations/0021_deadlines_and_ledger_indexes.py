from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0020_complaints')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DeadlineNotice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=24)),
                ('stage', fields.CharField(max_length=10)),
                ('subject_id', fields.IntField()),
                ('key', fields.CharField(unique=True, max_length=160)),
                ('detail', fields.CharField(default='', max_length=100)),
                ('station_id', fields.IntField(null=True)),
                ('district_id', fields.IntField(null=True)),
                ('need_id', fields.IntField(null=True)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'deadline_notices', 'app': 'models', 'indexes': [Index(fields=['kind', 'subject_id']), Index(fields=['station_id', 'created_at']), Index(fields=['created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddIndex(model_name='Need', index=Index(fields=['status', 'urgency', 'created_at'])),
        ops.AddIndex(model_name='TaskClaim', index=Index(fields=['status', 'submitted_at'])),
        ops.AddIndex(model_name='AuditLog', index=Index(fields=['action', 'created_at'])),
    ]
