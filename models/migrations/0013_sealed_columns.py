"""Seal the sensitive status at rest (models/sealed.py): the columns become text holding AES-GCM
tokens. Values already stored stay readable as they were and are sealed by ``scripts/rotate_keys``
(the key is not the migrations' to hold)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from models.sealed import SealedDate, SealedJSON, SealedText


class ChangeColumnType(ops.AlterField):
    """AlterField for a column whose type changes (DATE, JSON, VARCHAR → TEXT): each dialect's
    schema editor can (MySQL: MODIFY COLUMN; SQLite: rebuild the table), only the generic entry
    point refuses type changes."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if not state_editor:
            return
        old_model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
        new_model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
        if state_editor.DIALECT == "mysql":
            # MODIFY restates the column whole, so JSON's CHECK (json_valid(...)) goes with it.
            null = "NULL" if self.field.null else "NOT NULL"
            await state_editor._run_sql(
                f"ALTER TABLE `{new_model._meta.db_table}` MODIFY COLUMN `{self.name}` LONGTEXT {null}")
            return
        await state_editor._alter_field(new_model, old_model._meta.fields_map[self.name],
                                        new_model._meta.fields_map[self.name])


class Migration(migrations.Migration):
    dependencies = [('models', '0012_service_min_minutes')]

    initial = False

    operations = [
        ChangeColumnType(model_name='ResidentProfile', name='birth_date',
                       field=SealedDate(context='resident_profiles.birth_date', null=True)),
        ChangeColumnType(model_name='ResidentProfile', name='categories',
                       field=SealedJSON(context='resident_profiles.categories', default=list)),
        ChangeColumnType(model_name='ResidentProfile', name='declared_categories',
                       field=SealedJSON(context='resident_profiles.declared_categories', null=True)),
        ChangeColumnType(model_name='ResidentProfile', name='guardian_name',
                       field=SealedText(context='resident_profiles.guardian_name', null=True)),
        ChangeColumnType(model_name='Need', name='description', field=SealedText(context='needs.description')),
        ChangeColumnType(model_name='TaskClaim', name='summary', field=SealedText(context='task_claims.summary', null=True)),
        ChangeColumnType(model_name='Assessment', name='answers', field=SealedJSON(context='assessments.answers')),
        ChangeColumnType(model_name='AuditLog', name='detail', field=SealedJSON(context='audit_log.detail', null=True)),
    ]
