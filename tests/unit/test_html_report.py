"""The run's HTML report: the record on one page that loads nothing and shows operator text as
text."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from rollbackctl.run import html_report, timeline
from tests.unit.test_timeline import AUDIT, EVENTS, RESULT

HOSTILE = '<script>alert(1)</script><img src="http://evil.example/x.png">'


class Page(HTMLParser):
    """The tags, their attributes and the visible text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def page(result: dict | None = None) -> Page:
    result = result or RESULT
    document = timeline.build(result, EVENTS, AUDIT)
    return Page(html_report.render(result, document, "details of the run"))


def test_the_page_shows_the_verdict_from_to_and_every_timeline_entry() -> None:
    shown = page()
    text = " ".join(shown.text)
    assert "SUCCEEDED" in text and "2026.11.2 → 2026.11.1" in text
    shown_steps = ("Switch current release", "Verify the checklist", "run succeeded")
    assert all(what in text for what in shown_steps)
    assert "app1 changed, app2 changed" in text
    assert "Validating arguments" not in text and "Start a container" not in text


def test_operator_text_stays_text_and_the_page_loads_nothing() -> None:
    requested = {"reason": "feature-broken", "note": HOSTILE}
    result = {**RESULT, "requested": requested, "error": HOSTILE}
    shown = page(result)
    assert HOSTILE in shown.text
    loading = ("script", "img", "link", "iframe", "object", "embed")
    assert not [tag for tag, attrs in shown.tags if tag in loading]
    assert not [attrs for tag, attrs in shown.tags if "src" in attrs]
    links = [attrs["href"] for tag, attrs in shown.tags if tag == "a"]
    assert links == list(html_report.BUNDLE_FILES)
    csp = "Content-Security-Policy"
    policy = [a["content"] for tag, a in shown.tags if a.get("http-equiv") == csp]
    assert policy and "default-src 'none'" in policy[0]


def test_a_failed_run_shows_its_error_and_the_failed_step(tmp_path: Path) -> None:
    failed_step = {
        "event": "runner_on_failed",
        "event_data": {
            "task": "Verify the checklist",
            "host": "lb1",
            "task_uuid": "verify",
            "start": "2026-11-29T02:10:07+00:00",
            "end": "2026-11-29T02:10:08+00:00",
            "res": {"msg": "order placement failed: 500"},
        },
    }
    result = {**RESULT, "status": "failed", "error": "the checklist failed on lb1"}
    document = timeline.build(result, [*EVENTS, failed_step], AUDIT)
    path = html_report.write(result, document, "details", tmp_path)
    shown = Page(path.read_text())
    text = " ".join(shown.text)
    assert "FAILED" in text and "the checklist failed on lb1" in text
    assert "detail: lb1: order placement failed: 500" in text
    rows = [attrs.get("class") or "" for tag, attrs in shown.tags if tag == "tr"]
    assert any(row.split() == ["step", "failed"] for row in rows)
