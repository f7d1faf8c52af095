from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

# The console's desk counts, each from an index: a station's follow-ups, and its open tasks by
# start (the station's open tasks number in the thousands; (station_id, status) alone reads them all).


class Migration(migrations.Migration):
    dependencies = [('models', '0015_resident_phone_index')]

    initial = False

    operations = [
        ops.AddIndex(model_name='Need', index=Index(fields=['station_id', 'follow_up'])),
        ops.AddIndex(model_name='Task', index=Index(fields=['station_id', 'status', 'scheduled_start'])),
        ops.AddIndex(model_name='VolunteerProfile', index=Index(fields=['station_id', 'status'])),
    ]
