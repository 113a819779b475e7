"""Every catalog action's `step`, run through the real adapter against the sandbox: the outputs carry the
action's output fields, and paging/warnings work with what the adapter reports."""

from __future__ import annotations

from typing import Any

from edgewise import catalog
from edgewise.catalog import StepContext, StepResult
from linkedin.protocol import LinkedInAdapter
from tests.linkedin.conftest import SessionFactory
from tests.linkedin.helpers import SandboxControl, people


async def run_step(
    adapter: LinkedInAdapter,
    slug: str,
    raw_input: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    page_state: dict[str, Any] | None = None,
    produced: int = 0,
) -> StepResult:
    spec = catalog.CATALOG[slug]
    normalized = catalog.normalize_input(spec, raw_input, "input")
    params = catalog.validate_parameters(spec, parameters or {})
    ctx = StepContext(
        adapter=adapter,
        input=normalized.input,
        parameters=params,
        page_state=page_state,
        write_token=f"tok-{slug}-{produced}",
        max_results=catalog.effective_max_results(spec, params),
        produced=produced,
        ceiling=spec.max_results or 0,
    )
    result = await spec.step(ctx)
    expected = set(spec.output_fields["properties"])
    for output in result.outputs:
        assert set(output) <= expected, (slug, set(output) - expected)
    return result


async def test_reads(login: SessionFactory) -> None:
    adapter = login().adapter
    url = "linkedin.com/in/J%C3%BCrgen-M%C3%BCller-a1b2c3?trk=x"
    person = await run_step(
        adapter,
        "linkedin-extract-people",
        {"linkedin_profile_url": url},
        {"sections": ["experiences", "educations", "skills"]},
    )
    assert set(person.outputs[0]) == set(catalog.EXTRACT_PERSON["properties"])
    me = await run_step(adapter, "linkedin-me", {})
    assert me.outputs[0]["linkedin_profile_urn"].startswith("urn:li:fsd_profile:")
    search = await run_step(
        adapter,
        "linkedin-search-people",
        {"linkedin_people_search_url": "https://www.linkedin.com/search/results/people/?keywords=engineer"},
    )
    assert len(search.outputs) == 10 and search.page_state == {"start": 10}
    companies = await run_step(
        adapter,
        "linkedin-search-companies",
        {"linkedin_company_search_url": "https://www.linkedin.com/search/results/companies/?keywords=labs"},
    )
    company_url = companies.outputs[0]["linkedin_company_url"]
    company = await run_step(adapter, "linkedin-extract-company", {"linkedin_company_url": company_url})
    assert company.outputs == [companies.outputs[0]]
    connections = await run_step(adapter, "linkedin-extract-connections", {})
    assert len(connections.outputs) == 40 and connections.page_state == {"start": 40}
    received = await run_step(adapter, "linkedin-extract-received-invitations", {})
    assert received.outputs and received.page_state is None
    conversations = await run_step(adapter, "linkedin-extract-conversations", {})
    assert len(conversations.outputs) == 20 and conversations.page_state is not None
    thread_url = conversations.outputs[0]["linkedin_thread_url"]
    messages = await run_step(adapter, "linkedin-extract-messages", {"linkedin_thread_url": thread_url})
    assert messages.outputs


async def test_a_search_stopped_by_the_cap_warns(login: SessionFactory) -> None:
    adapter = login().adapter
    url = "https://www.linkedin.com/search/results/people/?keywords=a"
    last = await run_step(
        adapter,
        "linkedin-search-people",
        {"linkedin_people_search_url": url},
        page_state={"start": 990},
        produced=990,
    )
    assert len(last.outputs) == 10 and last.page_state is None
    assert [w["label"] for w in last.warnings] == ["SEARCH_CAP_REACHED"]
    sales = login("sales_navigator").adapter
    sn = await run_step(
        sales,
        "salesnavigator-search-people",
        {
            "sales_navigator_profile_search_url": "https://www.linkedin.com/sales/search/people?query=(keywords:engineer)"
        },
    )
    assert len(sn.outputs) == 25


async def test_writes(control: SandboxControl, login: SessionFactory) -> None:
    session = login()
    adapter = session.adapter
    stranger = people(control, not_connected_to=session.account["id"], limit=1)[0]
    friend = people(control, connected_to=session.account["id"], limit=1)[0]
    visit = await run_step(
        adapter, "linkedin-visit-profile", {"linkedin_profile_url": stranger["linkedin_profile_url"]}
    )
    assert visit.usage == {"LK_PROFILE_VISITS": 1}
    connect = await run_step(
        adapter,
        "linkedin-connect-profile",
        {"linkedin_profile_url": stranger["linkedin_profile_urn"]},
        {"message": "Hi!"},
    )
    assert connect.outputs[0]["pending"] and connect.usage["LK_CONNECTION_NOTES"] == 1
    message = await run_step(
        adapter,
        "linkedin-message-profile",
        {"linkedin_profile_url": friend["linkedin_profile_url"]},
        {"message": "Hello"},
    )
    assert message.outputs[0]["linkedin_profile_id"] == friend["linkedin_profile_id"]
    sent = await run_step(adapter, "linkedin-extract-sent-invitations", {})
    withdraw = await run_step(
        adapter,
        "linkedin-withdraw-invitation",
        {"linkedin_invitation_urn": sent.outputs[0]["linkedin_invitation_urn"]},
    )
    assert withdraw.outputs[0]["withdrawn"]
    received = await run_step(adapter, "linkedin-extract-received-invitations", {})
    accept = await run_step(
        adapter,
        "linkedin-accept-invitation",
        {"linkedin_invitation_urn": received.outputs[0]["linkedin_invitation_urn"]},
    )
    assert accept.outputs[0]["accepted"]
    premium = login("premium").adapter
    inmail = await run_step(
        premium,
        "salesnavigator-inmail-profile",
        {"linkedin_profile_url": stranger["linkedin_profile_url"]},
        {"subject": "Hello", "message": "A short InMail"},
    )
    assert inmail.usage == {"LK_INMAILS": 1}
