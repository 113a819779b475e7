"""Profile and other LinkedIn URLs normalise to one canonical form (ACTIONS.md § Profile URLs)."""

from __future__ import annotations

import unicodedata

import pytest

from edgewise import urls

CANONICAL = "https://www.linkedin.com/in/jürgen-müller-a1b2c3"


@pytest.mark.parametrize(
    "spelling",
    [
        "https://www.linkedin.com/in/jürgen-müller-a1b2c3/",
        "linkedin.com/in/j%C3%BCrgen-m%C3%BCller-a1b2c3?trk=x",
        "https://de.linkedin.com/in/jürgen-müller-a1b2c3",
        "http://www.linkedin.com/in/J%C3%BCrgen-M%C3%BCller-A1B2C3#about",
        unicodedata.normalize("NFD", "https://www.linkedin.com/in/jürgen-müller-a1b2c3/"),
        "  https://WWW.LinkedIn.com/in/jürgen-müller-a1b2c3//  ",
    ],
)
def test_every_spelling_of_a_profile_url_names_one_person(spelling: str) -> None:
    assert urls.normalize_profile(spelling) == CANONICAL


def test_a_profile_urn_is_accepted_as_is() -> None:
    assert urls.normalize_profile("urn:li:fsd_profile:ACoAAB1234") == "urn:li:fsd_profile:ACoAAB1234"
    assert urls.profile_slug("urn:li:fsd_profile:ACoAAB1234") is None
    assert urls.profile_slug(CANONICAL) == "jürgen-müller-a1b2c3"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a url",
        "https://www.linkedin.com/company/acme",
        "https://example.com/in/someone",
        "https://www.linkedin.com/in/",
        "https://www.linkedin.com/in/a/b",
        "ftp://www.linkedin.com/in/someone",
        "https://evil-linkedin.com/in/someone",
        "urn:li:fsd_company:123",
        "https://www.linkedin.com/in/foo\x00bar",
        "https://www.linkedin.com/in/foo%00bar",
        "https://www.linkedin.com/in/%ZZ%ZZ%ZZ",
        "https://www.linkedin.com/in/<script>",
        "https://www.linkedin.com:8443/in/someone",
        "https://user:pw@www.linkedin.com/in/someone",
        "https://www.linkedin.com/in/a b c",
    ],
)
def test_anything_else_is_not_a_profile_url(bad: str) -> None:
    with pytest.raises(ValueError, match="not a LinkedIn profile URL"):
        urls.normalize_profile(bad)


def test_search_urls_keep_keywords_and_drop_tracking() -> None:
    normalized = urls.normalize_search(
        "https://www.linkedin.com/search/results/people/?origin=GLOBAL&keywords=engineer", "people"
    )
    assert normalized == "https://www.linkedin.com/search/results/people/?keywords=engineer"
    assert urls.search_params(normalized) == {"keywords": "engineer"}
    with pytest.raises(ValueError):
        urls.normalize_search("https://www.linkedin.com/search/results/companies/?keywords=x", "people")


def test_company_thread_and_invitation_forms() -> None:
    assert (
        urls.normalize_company("linkedin.com/company/Acme-Corp/about/")
        == "https://www.linkedin.com/company/acme-corp"
    )
    assert urls.normalize_thread("https://www.linkedin.com/messaging/thread/2-abc/") == (
        "https://www.linkedin.com/messaging/thread/2-abc/"
    )
    assert urls.normalize_invitation_urn("urn:li:invitation:123") == "urn:li:fsd_invitation:123"
    with pytest.raises(ValueError):
        urls.normalize_invitation_urn("urn:li:fsd_profile:ACoAAB1234")
