"""A client generated from `GET /api/openapi.json` drives the real server.

`tests/contract/run` generates the package `livepage_client` with openapi-python-client (a
generator we did not write) from the document the binary serves, then runs this script with
the page, generation and report it made. Every call goes through the generated functions and
comes back as the generated model of the documented response: a field missing from the document,
a wrong type or an undocumented status fails here (`raise_on_unexpected_status`).

The event streams are outside what such generators build (they read a response whole, as JSON);
a client reads them with any SSE client, event by event as the document describes them.

Usage: client.py BASE_URL PAGE_ID GENERATION_ID REPORT_ID OWNER_KEY ADMIN_TOKEN
"""

import sys
from uuid import UUID

from livepage_client import AuthenticatedClient, Client
from livepage_client.api.admin import admin_stats, list_reports
from livepage_client.api.generations import get_generation, get_options
from livepage_client.api.moderation import report_page
from livepage_client.api.operations import healthz, readyz
from livepage_client.api.pages import get_page, history, list_versions, update_page
from livepage_client.models import (
    AdminStats,
    Error,
    Filed,
    Generation,
    GenerationStatus,
    Health,
    History,
    Options,
    Page,
    PageChange,
    PageStatus,
    Readiness,
    ReportBody,
    ReportReason,
    Reports,
    Versions,
)


CALLS = []


def expect(value, kind):
    assert isinstance(value, kind), f"expected a {kind.__name__}, got {value!r}"
    CALLS.append(kind.__name__)
    return value


def main() -> None:
    base, page_id, generation_id, report_id, owner_key, admin_token = sys.argv[1:7]
    anyone = Client(base_url=base, raise_on_unexpected_status=True)
    owner = AuthenticatedClient(base_url=base, token=owner_key, raise_on_unexpected_status=True)
    admin = AuthenticatedClient(base_url=base, token=admin_token, raise_on_unexpected_status=True)
    stranger = AuthenticatedClient(
        base_url=base, token="someone-else-0123456789abcdef-0123456789", raise_on_unexpected_status=True
    )

    assert expect(healthz.sync(client=anyone), Health).status == "ok"
    expect(readyz.sync(client=anyone), Readiness)
    options = expect(get_options.sync(client=anyone), Options)
    assert options.demo_mode and options.models, options

    generation = expect(get_generation.sync(generation_id, client=anyone), Generation)
    assert generation.id == UUID(generation_id)
    assert generation.status == GenerationStatus.COMPLETED, generation.status

    page = expect(get_page.sync(page_id, client=owner), Page)
    assert page.id == UUID(page_id) and page.version == 1, page
    assert page.status == PageStatus.PUBLISHED and page.live_url.endswith(f"/p/{page_id}")

    versions = expect(list_versions.sync(page_id, client=owner), Versions)
    assert versions.current == 1 and [v.version for v in versions.versions] == [1]

    mine = expect(history.sync(client=owner, email="fuzz@example.com"), History)
    assert any(item.id == UUID(page_id) for item in mine.pages), mine

    # Only the owner changes the page: another key is told so, in the documented error shape.
    refused = expect(
        update_page.sync(page_id, client=stranger, body=PageChange(is_public=False)), Error
    )
    assert refused.error.code == "forbidden", refused.error
    hidden = expect(update_page.sync(page_id, client=owner, body=PageChange(is_public=False)), Page)
    assert hidden.status == PageStatus.UNPUBLISHED and not hidden.is_public
    shown = expect(update_page.sync(page_id, client=owner, body=PageChange(is_public=True)), Page)
    assert shown.status == PageStatus.PUBLISHED

    filed = expect(
        report_page.sync(page_id, client=anyone, body=ReportBody(reason=ReportReason.SPAM)), Filed
    )
    reports = expect(list_reports.sync(client=admin), Reports)
    listed = {report.report_id for report in reports.reports}
    assert {UUID(report_id), filed.report_id} <= listed, listed

    stats = expect(admin_stats.sync(client=admin), AdminStats)
    assert stats.totals is not None

    print(f"generated client: {len(CALLS)} calls, every response the documented model")


if __name__ == "__main__":
    main()
