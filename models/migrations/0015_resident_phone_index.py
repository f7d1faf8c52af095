from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Existing rows get their index from scripts/migrate (server.people.residents.index_phones): the
# index needs the application's key, which a migration does not hold.


class Migration(migrations.Migration):
    dependencies = [('models', '0014_identity_cases')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ResidentProfile',
            name='phone_index',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
    ]
