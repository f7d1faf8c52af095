from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [('models', '0023_display_names_and_reward_details')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CreditConsent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.IntField()),
                ('version', fields.CharField(max_length=20)),
                ('consented_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('withdrawn_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_consents', 'app': 'models', 'indexes': [Index(fields=['user_id', 'withdrawn_at'])], 'pk_attr': 'id', 'table_description': 'One consent to providing name, ID number and hours to 信用威海, to one version of the text'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HoursCertificate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('user_id', fields.IntField(db_index=True)),
                ('volunteer_id', fields.IntField()),
                ('snapshot', fields.JSONField()),
                ('issued_by', fields.IntField()),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hours_certificates', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A volunteer-hours certificate as issued: what the PDF said, kept so that its code verifies'},
            bases=['Model'],
        ),
    ]
