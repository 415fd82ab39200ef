"""The device configuration a client sends (PUT /api/devices/{id}/config), checked before anything is stored:
the body read into ConfigUpdate with every problem named, then the limits' order (pure, no servers)."""

from __future__ import annotations

import json

import msgspec
import pytest

from iotmon.core.contracts.devices import ConfigUpdate, DeviceCreate
from iotmon.core.contracts.validation import Invalid, convert_nested, decode, field_names, given, listed
from iotmon.core.devices import LIMITS, check_limits

FIELDS = field_names(ConfigUpdate)


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def problems(document: object) -> list[dict[str, str]]:
    with pytest.raises(Invalid) as refused:
        decode(body(document), ConfigUpdate)
    return refused.value.details


# --------------------------------------------------------------------------- decode(body, ConfigUpdate)


def test_a_partial_update_sets_only_what_it_names():
    update = decode(body({"alertMax": 90, "breachCount": 3, "name": "Pump #2"}), ConfigUpdate)
    assert given(update) == {"alert_max": 90.0, "breach_count": 3, "name": "Pump #2"}
    assert update.normal_min is msgspec.UNSET and update.status is msgspec.UNSET


def test_every_field_at_its_limits_is_accepted():
    document = {
        "normalMin": -99_999_999.99,
        "normalMax": 99_999_999.99,
        "alertMin": None,  # a limit can be removed
        "alertMax": None,
        "offlineTimeoutS": 604_800,
        "anomalySensitivity": 100,
        "trendHorizonS": 1,
        "trendWindowS": 604_800,
        "breachCount": 10_000,
        "breachForS": 604_800,
        "clearAfterS": 0,
        "hysteresisPct": 100,
        "physicalMin": -99_999_999.99,
        "physicalMax": None,
        "updatePeriodMs": None,
        "name": None,
        "location": "x",
        "status": "maintenance",
    }
    assert set(document) == set(FIELDS)  # the test covers the whole contract
    update = decode(body(document), ConfigUpdate)
    assert len(given(update)) == len(FIELDS)
    assert update.alert_min is None and update.offline_timeout_s == 604_800 and update.status == "maintenance"


def test_an_empty_object_decodes_to_no_change():
    # Refusing "nothing to update" is the endpoint's job (tests/integration/test_api_devices.py).
    assert given(decode(b"{}", ConfigUpdate)) == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "a JSON body is required"),
        (b"  \n", "a JSON body is required"),
        (b"{bad", "request body is not valid JSON"),
        (b'{"alertMax": 90,}', "request body is not valid JSON"),
    ],
)
def test_no_body_or_no_json_is_refused(content, message):
    with pytest.raises(Invalid, match=message) as refused:
        decode(content, ConfigUpdate)
    assert refused.value.details is None


@pytest.mark.parametrize("document", [[], [{"alertMax": 90}], 42, "alertMax", None, True])
def test_anything_but_an_object_is_refused_naming_the_fields(document):
    with pytest.raises(Invalid) as refused:
        decode(body(document), ConfigUpdate)
    assert refused.value.message == f"the body must be a JSON object with the fields {', '.join(FIELDS)}"


def test_unknown_fields_are_named_with_what_is_allowed_before_any_value_is_checked():
    with pytest.raises(Invalid) as refused:
        decode(body({"alertMax": "not a number", "colour": "red", "alert_max": 1, "Name": "x"}), ConfigUpdate)
    assert refused.value.message == "unknown field(s): Name, alert_max, colour"
    assert refused.value.details == {"unknown": ["Name", "alert_max", "colour"], "allowed": sorted(FIELDS)}


def test_every_bad_field_is_listed_in_the_contracts_order():
    found = problems(
        {
            "status": "broken",
            "normalMin": "10",
            "breachCount": 0,
            "hysteresisPct": 101,
            "location": "",
            "alertMax": 85,  # fine: not listed
        }
    )
    assert [p["field"] for p in found] == ["normalMin", "breachCount", "hysteresisPct", "location", "status"]
    for problem in found:
        assert problem["reason"].startswith(f"'{problem['field']}': "), problem
    assert "Expected `float | null`, got `str`" in found[0]["reason"]
    assert ">= 1" in found[1]["reason"] and "<= 100" in found[2]["reason"]


@pytest.mark.parametrize(
    ("document", "field", "why"),
    [
        ({"normalMax": True}, "normalMax", "got `bool`"),  # a boolean is not a number
        ({"alertMax": 1e12}, "alertMax", "<= 99999999.99"),  # beyond DECIMAL(10,2)
        ({"alertMin": -1e12}, "alertMin", ">= -99999999.99"),
        ({"offlineTimeoutS": 0}, "offlineTimeoutS", ">= 1"),
        ({"offlineTimeoutS": 604_801}, "offlineTimeoutS", "<= 604800"),
        ({"offlineTimeoutS": 1.5}, "offlineTimeoutS", "got `float`"),
        ({"trendHorizonS": None}, "trendHorizonS", "got `null`"),
        ({"anomalySensitivity": 0}, "anomalySensitivity", "> 0"),
        ({"anomalySensitivity": 100.5}, "anomalySensitivity", "<= 100"),
        ({"breachCount": None}, "breachCount", "got `null`"),
        ({"breachCount": 10_001}, "breachCount", "<= 10000"),
        ({"clearAfterS": -1}, "clearAfterS", ">= 0"),
        ({"hysteresisPct": -0.1}, "hysteresisPct", ">= 0"),
        ({"updatePeriodMs": 0}, "updatePeriodMs", ">= 1"),
        ({"updatePeriodMs": 86_400_001}, "updatePeriodMs", "<= 86400000"),
        ({"name": "n" * 101}, "name", "length <= 100"),
        ({"name": "   "}, "name", "matching regex"),  # blank
        ({"name": "a\u0000b"}, "name", "control character (U+0000)"),  # NUL never reaches PostgreSQL
        ({"location": None}, "location", "got `null`"),  # a device always has a location
        ({"location": 7}, "location", "got `int`"),
        ({"status": "offline"}, "status", "Invalid enum value 'offline'"),  # derived, never configured
    ],
)
def test_each_field_keeps_its_own_limits(document, field, why):
    [problem] = problems(document)
    assert problem["field"] == field and why in problem["reason"], problem


# --------------------------------------------------------------------------- check_limits


SEED = {"alertMin": 15.0, "normalMin": 20.0, "normalMax": 80.0, "alertMax": 85.0}


def test_limits_in_order_have_no_problem():
    assert check_limits(SEED) == []
    assert check_limits({}) == []


def test_limits_that_are_not_set_are_left_out_of_the_order():
    assert check_limits({**SEED, "alertMin": None, "alertMax": None}) == []
    assert check_limits({"alertMin": 10.0, "alertMax": 20.0}) == []
    assert check_limits({"alertMin": 10.0, "normalMin": None, "normalMax": None, "alertMax": 5.0}) == [
        {"field": "alertMax", "reason": "'alertMin' (10.0) must be below 'alertMax' (5.0)"}
    ]


def test_equal_limits_are_out_of_order():
    assert check_limits({**SEED, "alertMax": 80.0}) == [
        {"field": "alertMax", "reason": "'normalMax' (80.0) must be below 'alertMax' (80.0)"}
    ]


def test_every_pair_out_of_order_is_listed_against_the_higher_limit():
    # normalMin 90 is above normalMax and alertMax: two problems, one per limit it passes
    assert check_limits({**SEED, "normalMin": 90.0}) == [
        {"field": "normalMax", "reason": "'normalMin' (90.0) must be below 'normalMax' (80.0)"},
        {"field": "alertMax", "reason": "'normalMin' (90.0) must be below 'alertMax' (85.0)"},
    ]
    upside_down = dict(zip(LIMITS, (4.0, 3.0, 2.0, 1.0), strict=True))
    found = check_limits(upside_down)
    assert len(found) == 6  # every pair
    assert [p["field"] for p in found] == ["normalMin", "normalMax", "alertMax", "normalMax", "alertMax", "alertMax"]


def test_names_that_are_not_limits_are_ignored():
    assert check_limits({**SEED, "breachCount": -5, "offlineTimeoutS": 0}) == []


def test_a_decoded_update_merged_over_the_stored_limits_is_what_gets_checked():
    """As the endpoint does it: the limits the body sets over the ones stored, then the order."""
    update = given(decode(body({"normalMax": 75, "alertMax": 70}), ConfigUpdate))
    changed = {"normalMax": update["normal_max"], "alertMax": update["alert_max"]}
    assert check_limits({**SEED, **changed}) == [
        {"field": "alertMax", "reason": "'normalMax' (75.0) must be below 'alertMax' (70.0)"}
    ]


# --------------------------------------------------------------------------- a registration: config nested


def test_a_registration_carries_its_config_as_the_config_body():
    document = {"deviceId": "press-7", "type": "pressure", "unit": "psi", "location": "l", "config": {"alertMax": 5}}
    device = convert_nested(document, DeviceCreate, "config", ConfigUpdate)
    assert isinstance(device.config, ConfigUpdate) and given(device.config) == {"alert_max": 5}


def test_a_registration_lists_the_problems_inside_config_beside_its_own():
    document = {"deviceId": "bad id", "unit": "psi", "location": "l", "config": {"alertMax": "x", "colour": 1}}
    with pytest.raises(Invalid) as refused:
        convert_nested(document, DeviceCreate, "config", ConfigUpdate)
    found = listed(refused.value)
    assert [problem.get("field") for problem in found] == ["deviceId", "type", "config"]
    assert found[-1]["unknown"] == ["colour"]
    with pytest.raises(Invalid) as refused:
        convert_nested({**document, "config": {"alertMax": "x"}}, DeviceCreate, "config", ConfigUpdate)
    assert [problem["field"] for problem in listed(refused.value)] == ["deviceId", "type", "config.alertMax"]
