"""Edition gates: the configured EDITION alone grants nothing; verified lease claims decide."""

import pytest

from techcare import config, features
from techcare.errors import LicenseError


def test_community_has_no_entitlements_and_a_monthly_quota():
    assert features.current_edition() == "community"
    assert not features.allowed("unlimited_repairs")
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS
    features.record_repairs(3)
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 3
    with pytest.raises(LicenseError, match="Community"):
        features.require_repairs(features.COMMUNITY_MONTHLY_REPAIRS)


def test_configured_edition_without_a_verified_lease_is_community(monkeypatch):
    monkeypatch.setenv("EDITION", "enterprise")
    monkeypatch.setenv("TECHCARE_LANG", "en")
    config.reset_settings()
    assert features.current_edition() == "community"
    assert not features.allowed("sensor_mode")
    with pytest.raises(LicenseError) as info:
        features.require("sensor_mode")
    assert "Pro Business" in str(info.value) and "techcare license" in str(info.value)


@pytest.mark.parametrize(("edition", "feature", "ok"), [
    ("pro", "unlimited_repairs", True), ("pro", "sensor_mode", False),
    ("pro_business", "sensor_mode", True), ("pro_business", "shared_learning_db", False),
    ("enterprise", "team_features", True),
])
def test_product_table(licensed, edition, feature, ok):
    licensed(edition)
    assert features.allowed(feature) is ok
    if ok:
        features.require(feature)
    else:
        with pytest.raises(LicenseError):
            features.require(feature)


def test_unknown_feature_name_is_refused():
    with pytest.raises(ValueError, match="known"):
        features.allowed("teleport")
