from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_sealed_columns')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IdentityCase',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('claimant', fields.ForeignKeyField('models.ResidentProfile', source_field='claimant_id', db_constraint=True, to_field='id', related_name='identity_claims', on_delete=OnDelete.CASCADE)),
                ('claimant_station_id', fields.IntField()),
                ('number_index', fields.CharField(db_index=True, max_length=64)),
                ('status', fields.CharField(default='open', max_length=8)),
                ('outcome', fields.CharField(null=True, max_length=16)),
                ('note', fields.CharField(null=True, max_length=200)),
                ('open_key', fields.IntField(null=True, unique=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('holder_id', fields.IntField(null=True)),
                ('station_id', fields.IntField(null=True)),
                ('settled_by', fields.IntField(null=True)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'identity_cases', 'app': 'models', 'indexes': [Index(fields=['status', 'station_id']), Index(fields=['claimant_station_id', 'status'])], 'pk_attr': 'id', 'table_description': 'Two household profiles naming one ID number: someone registered themself with a number a'},
            bases=['Model'],
        ),
    ]
