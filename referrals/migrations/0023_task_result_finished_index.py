from django.db import migrations, models

# The dashboard reads when the task worker last finished a task (selectors.task_queue) on every
# view: an index on django-tasks-db's `finished_at` makes that one index lookup instead of a scan
# of every task ever run. The table is that app's, so the index is added here, by name. (Should a
# later django-tasks-db migration rebuild the table on SQLite, the index goes with it:
# tests/test_dashboard.py checks that it is there.)
INDEX = models.Index(fields=["finished_at"], name="task_result_finished_idx")


def add_index(apps, schema_editor):
    schema_editor.add_index(apps.get_model("django_tasks_database", "DBTaskResult"), INDEX)


def remove_index(apps, schema_editor):
    schema_editor.remove_index(apps.get_model("django_tasks_database", "DBTaskResult"), INDEX)


class Migration(migrations.Migration):

    dependencies = [
        ("referrals", "0022_line_failed_count_index"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunPython(add_index, remove_index),
    ]
