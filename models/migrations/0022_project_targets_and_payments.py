from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0021_deadlines_and_ledger_indexes')]

    initial = False

    operations = [
        ops.AddField(model_name='Project', name='targets', field=fields.JSONField(default=dict)),
        ops.CreateModel(
            name='ProjectPayment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(max_length=10)),
                ('amount_fen', fields.BigIntField()),
                ('note', fields.CharField(default='', max_length=200)),
                ('step_id', fields.IntField(null=True)),
                ('actor_id', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'project_payments', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
