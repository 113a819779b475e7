"""Voyager-style JSON shapes of world objects (loosely LinkedIn's own: miniProfile, profileView, …).

The profile view does not depend on who asks, so its bytes are rendered once per person and cached:
profile extraction is the hot path the benchmark pushes ~1,000 requests/s through.
"""

from __future__ import annotations

from typing import Any

from linkedin.sandbox.model import Company, Person, Position
from linkedin.sandbox.responses import dumps


def mini_profile(person: Person) -> dict[str, Any]:
    return {
        "entityUrn": f"urn:li:fs_miniProfile:{person.token}",
        "dashEntityUrn": person.urn,
        "objectUrn": f"urn:li:member:{person.member_id}",
        "publicIdentifier": person.slug,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "occupation": person.headline,
        "locationName": person.location,
    }


def _date(year_month: tuple[int, int] | None) -> dict[str, int] | None:
    if year_month is None:
        return None
    return {"year": year_month[0], "month": year_month[1]}


def _position(position: Position) -> dict[str, Any]:
    return {
        "title": position.title,
        "companyName": position.company.name,
        "companyUrn": f"urn:li:fs_miniCompany:{position.company.id}",
        "companyUniversalName": position.company.slug,
        "locationName": position.location,
        "description": position.description,
        "timePeriod": {"startDate": _date(position.start), "endDate": _date(position.end)},
    }


def profile_view(person: Person) -> dict[str, Any]:
    educations = [
        {
            "schoolName": e.school,
            "degreeName": e.degree,
            "fieldOfStudy": e.field_of_study,
            "timePeriod": {"startDate": {"year": e.start_year}, "endDate": {"year": e.end_year}},
        }
        for e in person.educations
    ]
    return {
        "profile": {
            **mini_profile(person),
            "headline": person.headline,
            "geoLocationName": person.location,
            "geoUrn": f"urn:li:fs_geo:{person.geo_id}",
            "industryName": person.industry,
        },
        "positionView": {
            "elements": [_position(p) for p in person.positions],
            "paging": {"total": len(person.positions)},
        },
        "educationView": {"elements": educations, "paging": {"total": len(educations)}},
        "skillView": {
            "elements": [{"name": s} for s in person.skills],
            "paging": {"total": len(person.skills)},
        },
    }


class ProfileViewCache:
    """Rendered profile views by member id (one app's world; a few KB per person)."""

    def __init__(self) -> None:
        self._bytes: dict[int, bytes] = {}

    def get(self, person: Person) -> bytes:
        body = self._bytes.get(person.member_id)
        if body is None:
            body = self._bytes[person.member_id] = dumps(profile_view(person))
        return body


def company(company: Company) -> dict[str, Any]:
    low, high = company.employees
    return {
        "entityUrn": f"urn:li:fs_normalized_company:{company.id}",
        "universalName": company.slug,
        "name": company.name,
        "url": company.url,
        "companyPageUrl": company.website,
        "companyIndustries": [{"localizedName": company.industry}],
        "staffCountRange": {"start": low, **({"end": high} if high is not None else {})},
        "headquarter": {"description": company.headquarters},
    }


def person_hit(person: Person, degree: int) -> dict[str, Any]:
    """One people-search hit (blended search and Sales Navigator share this shape)."""
    return {
        "targetUrn": person.urn,
        "trackingUrn": f"urn:li:member:{person.member_id}",
        "publicIdentifier": person.slug,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "title": {"text": f"{person.first_name} {person.last_name}"},
        "headline": {"text": person.headline},
        "subline": {"text": person.location},
        "memberDistance": {"value": f"DISTANCE_{degree}"},
        "navigationUrl": person.url,
    }


def company_hit(company: Company) -> dict[str, Any]:
    return {
        "targetUrn": f"urn:li:fsd_company:{company.id}",
        "universalName": company.slug,
        "title": {"text": company.name},
        "headline": {"text": company.industry},
        "subline": {"text": company.headquarters},
        "employeeCountRange": company.employee_count_range,
        "websiteUrl": company.website,
        "navigationUrl": company.url,
    }
