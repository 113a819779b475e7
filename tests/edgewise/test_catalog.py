"""The declarative catalog: every action is complete, inputs and parameters validate as documented."""

from __future__ import annotations

import json

import pytest

from edgewise.catalog import CATALOG, InputError, normalize_input, validate_parameters

ACTIONS_MD_SLUGS = {
    "linkedin-extract-people",
    "linkedin-extract-company",
    "linkedin-search-people",
    "linkedin-search-companies",
    "salesnavigator-search-people",
    "linkedin-me",
    "linkedin-extract-connections",
    "linkedin-extract-conversations",
    "linkedin-extract-messages",
    "linkedin-extract-received-invitations",
    "linkedin-extract-sent-invitations",
    "linkedin-visit-profile",
    "linkedin-connect-profile",
    "linkedin-message-profile",
    "salesnavigator-inmail-profile",
    "linkedin-accept-invitation",
    "linkedin-withdraw-invitation",
}


def test_catalog_holds_every_action_of_actions_md_and_serialises() -> None:
    assert set(CATALOG) == ACTIONS_MD_SLUGS
    for spec in CATALOG.values():
        entry = spec.catalog_entry()
        json.dumps(entry)
        assert entry["identity"] in ("any", "direct", "direct_one")
        assert entry["parameters"]["type"] == "object"


def test_paging_caps_match_actions_md() -> None:
    assert (CATALOG["linkedin-search-people"].page_size, CATALOG["linkedin-search-people"].max_results) == (
        10,
        1000,
    )
    assert CATALOG["salesnavigator-search-people"].max_results == 2500
    assert CATALOG["salesnavigator-search-people"].required_level == "sales_navigator"
    assert CATALOG["linkedin-extract-conversations"].page_size == 20


def test_max_results_is_clamped_to_the_ceiling() -> None:
    spec = CATALOG["linkedin-search-people"]
    assert validate_parameters(spec, {"max_results": 5000}) == {"max_results": 1000}
    assert validate_parameters(spec, {}) == {"max_results": 1000}
    assert validate_parameters(spec, {"max_results": 30}) == {"max_results": 30}


@pytest.mark.parametrize(
    ("slug", "params", "field"),
    [
        ("linkedin-connect-profile", {"message": "x" * 301}, "parameters.message"),
        ("linkedin-message-profile", {"message": ""}, "parameters.message"),
        ("linkedin-message-profile", {}, "parameters.message"),
        ("salesnavigator-inmail-profile", {"subject": "s" * 201, "message": "hi"}, "parameters.subject"),
        ("linkedin-extract-people", {"sections": ["hobbies"]}, "parameters.sections[0]"),
        ("linkedin-extract-people", {"colour": "red"}, "parameters.colour"),
        ("linkedin-search-people", {"max_results": 0}, "parameters.max_results"),
    ],
)
def test_bad_parameters_name_their_field(slug: str, params: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        validate_parameters(CATALOG[slug], params)
    assert caught.value.field == field


def test_inputs_validate_and_normalise() -> None:
    spec = CATALOG["linkedin-extract-people"]
    item = normalize_input(
        spec, {"linkedin_profile_url": "linkedin.com/in/Ada-L/", "custom_data": {"k": 1}}, "inputs[0]"
    )
    assert item.input == {"linkedin_profile_url": "https://www.linkedin.com/in/ada-l"}
    assert item.custom_data == {"k": 1}
    with pytest.raises(InputError) as caught:
        normalize_input(spec, {"linkedin_profile_url": "https://example.com/x"}, "inputs[17]")
    assert caught.value.field == "inputs[17].linkedin_profile_url"
    with pytest.raises(InputError) as caught:
        normalize_input(spec, {"linkedin_profile_url": "linkedin.com/in/ada", "extra": 1}, "inputs[2]")
    assert caught.value.field == "inputs[2].extra"
    with pytest.raises(InputError) as caught:
        normalize_input(
            spec, {"linkedin_profile_url": "linkedin.com/in/ada", "custom_data": {"x": "y" * 5000}}, "input"
        )
    assert caught.value.field == "input.custom_data"
    me = normalize_input(CATALOG["linkedin-me"], {}, "input")
    assert me.input == {}
