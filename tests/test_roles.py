"""The roles declared in `referrals/roles.py`: what the migrations leave and what `sync_roles` does.

What each role may open is `tests/test_permissions.py`; this module checks that the groups hold
exactly the declared permissions.
"""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from referrals import roles


def held(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{permission.content_type.app_label}.{permission.codename}"
        for permission in group.permissions.select_related("content_type")
    }


def permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def sync_roles() -> str:
    out = StringIO()
    call_command("sync_roles", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_leaves_each_role_exactly_its_declared_permissions_after_migrate():
    # The test database is built by running every migration.
    assert {role: held(role) for role in roles.ROLES} == roles.ROLES


@pytest.mark.django_db
def test_it_restores_a_removed_permission_and_removes_an_extra_one():
    coordinator = Group.objects.get(name=roles.COORDINATOR)
    coordinator.permissions.remove(permission("referrals.change_referral"))
    coordinator.permissions.add(permission("referrals.delete_patient"))

    out = sync_roles()

    assert held(roles.COORDINATOR) == roles.ROLES[roles.COORDINATOR]
    assert "Coordinator:\n  + referrals.change_referral\n  - referrals.delete_patient\n" in out
    assert "Admin: unchanged\n" in out


@pytest.mark.django_db
def test_it_recreates_a_deleted_group():
    Group.objects.filter(name=roles.HOSPITAL_LIAISON).delete()

    sync_roles()

    assert held(roles.HOSPITAL_LIAISON) == {"referrals.work_hospital_referrals"}


@pytest.mark.django_db
def test_it_changes_nothing_when_run_again():
    sync_roles()

    assert sync_roles() == "Admin: unchanged\nCoordinator: unchanged\nHospital liaison: unchanged\n"


@pytest.mark.django_db
def test_it_leaves_groups_not_declared_alone():
    auditors = Group.objects.create(name="Auditors")
    auditors.permissions.add(permission("referrals.view_accesslog"))

    sync_roles()

    assert list(auditors.permissions.values_list("codename", flat=True)) == ["view_accesslog"]


@pytest.mark.django_db
def test_it_refuses_a_declared_permission_that_does_not_exist(monkeypatch):
    declared = roles.ROLES[roles.COORDINATOR] | {"referrals.view_nothing"}
    monkeypatch.setitem(roles.ROLES, roles.COORDINATOR, declared)

    with pytest.raises(CommandError, match=r"referrals\.view_nothing"):
        sync_roles()

    assert held(roles.COORDINATOR) == declared - {"referrals.view_nothing"}


@pytest.mark.django_db
def test_it_leaves_a_permission_of_a_later_model_to_a_later_migration(monkeypatch):
    # In a migration the permission of a model a later migration creates does not exist yet;
    # that later migration applies the roles again.
    declared = roles.ROLES[roles.COORDINATOR] | {"referrals.view_later"}
    monkeypatch.setitem(roles.ROLES, roles.COORDINATOR, declared)
    Group.objects.get(name=roles.COORDINATOR).permissions.clear()
    state = MigrationLoader(connection).project_state(("referrals", "0026_roles_declared"))

    roles.roles_apply(apps=state.apps)

    assert held(roles.COORDINATOR) == declared - {"referrals.view_later"}
