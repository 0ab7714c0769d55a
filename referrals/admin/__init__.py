"""The admin of patients and referrals, one module per capability. Importing the package
registers every page: Django's autodiscovery imports `referrals.admin`."""

# Each module registers its pages as it is imported.
from referrals.admin import liaisons, patients, records  # noqa: F401
from referrals.admin.referrals import ReferralAdmin

__all__ = ["ReferralAdmin"]
