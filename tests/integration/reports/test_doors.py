"""The report's doors: the hourly job, the ops API, the command and the admin."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token

from health.services import health_monitor_run
from reliability.breaker.services import breaker_force_open
from reliability.dlq.locks import job_lock
from reliability.reports.models import ReliabilityReport
from reliability.reports.services import reliability_report_generate
from reliability.tasks import generate_reliability_report

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
API = "/admin/reliability/reports/reliability"


def test_the_hourly_job_is_seeded_editable_and_stores_each_hour_once(superuser):
    job = PeriodicTask.objects.get(task="generate_reliability_report")
    assert (job.name, job.enabled, job.crontab.minute, job.crontab.hour) == (
        "Generate the reliability report",
        True,
        "5",
        "*",
    )
    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    first = generate_reliability_report()
    again = generate_reliability_report()
    report = ReliabilityReport.objects.get()
    assert first == {"skipped": False, "report_id": report.pk}
    assert again == {"skipped": False, "report_id": None}, "the same hour is not stored twice"
    assert report.period_end - report.period_start == dt.timedelta(hours=1)
    assert (report.period_end.minute, report.period_end.second) == (0, 0)
    assert set(report.data) == {"period", "generated_at", "breakers", "dead_letters", "degradation", "sections"}


def test_the_health_section_shows_the_monitors_last_results_and_says_why_it_has_no_rate():
    health_monitor_run()
    health = reliability_report_generate().data["sections"]["health"]
    assert health["success_rate"] is None and "health_check_total" in health["note"]
    assert health["last_results"]["database"]["status"] == "pass"
    assert "database" not in health["failing_now"]


def test_an_overlapping_run_skips_while_another_holds_the_lock():
    with job_lock("generate_reliability_report", timeout=60) as held:
        assert held
        assert generate_reliability_report() == {"skipped": True}
    assert not ReliabilityReport.objects.exists()


def test_reports_past_their_retention_are_deleted(settings):
    settings.RELIABILITY_REPORT_RETENTION_DAYS = 30
    now = dt.datetime.now(dt.UTC)
    old = ReliabilityReport.objects.create(
        period_start=now - dt.timedelta(days=40, hours=1), period_end=now - dt.timedelta(days=40), data={}
    )
    reliability_report_generate(now=now)
    assert not ReliabilityReport.objects.filter(pk=old.pk).exists()
    assert ReliabilityReport.objects.count() == 1


def test_the_api_answers_the_latest_stored_report_or_a_fresh_one(client, staff_user):
    client.force_login(staff_user)
    fresh = client.get(API)
    assert fresh.status_code == 200, fresh.content
    assert (fresh.json()["source"], fresh.json()["id"]) == ("fresh", None)
    assert fresh.json()["report"]["period"]["seconds"] == 86400
    assert fresh["Cache-Control"].startswith("max-age=0")

    stored = reliability_report_generate()
    latest = client.get(API).json()
    assert (latest["source"], latest["id"]) == ("stored", stored.pk)
    assert latest["report"]["period"] == stored.data["period"]

    week = client.get(API, {"since": "7d"}).json()
    assert (week["source"], week["report"]["period"]["seconds"]) == ("fresh", 7 * 86400)
    assert set(week["report"]["sections"]) >= {"messaging"}
    assert ReliabilityReport.objects.count() == 1, "a GET stores nothing"


@pytest.mark.parametrize(
    "query",
    [
        "since=garbage",
        "since=-1h",
        "since=nan",
        "since=Infinity",
        "since=1e999",
        "since=9999d",
        "since=2031-01-01T00:00:00Z",
        "until=2031-01-01T00:00:00Z",
        "since=1h&since=2h",
        "since=%D0%BF%D1%80%D0%B8",
        "since=" + "9" * 2000,
    ],
)
def test_bad_periods_are_a_400_with_one_line(client, staff_user, query):
    client.force_login(staff_user)
    answer = client.get(f"{API}?{query}")
    assert answer.status_code == 400, answer.content
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and len(detail) < 200


def test_the_api_is_for_staff_only(client, django_user_model):
    assert client.get(API).status_code in (401, 403)
    user = django_user_model.objects.create_user("customer", "c@example.com", "pw-customer")
    client.force_login(user)
    assert client.get(API).status_code == 403
    token = Token.objects.create(user=user)
    assert client.get(API, headers={"Authorization": f"Token {token.key}"}).status_code == 403


def test_the_command_prints_json_or_text_and_progress_on_stderr(superuser):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")
    out, err = io.StringIO(), io.StringIO()
    call_command("reliability_report", "--since", "2h", "--format", "json", stdout=out, stderr=err)
    report = json.loads(out.getvalue())
    assert report["period"]["seconds"] == 7200
    assert report["breakers"]["deepseek"]["transitions"] == 1
    assert "report: 1/" in err.getvalue() and "(100%) " in err.getvalue()
    text = io.StringIO()
    call_command("reliability_report", "--since", "90m", stdout=text, stderr=io.StringIO())
    assert "Circuit breakers" in text.getvalue() and "deepseek" in text.getvalue()
    assert "Messages and replies" in text.getvalue()


@pytest.mark.parametrize(
    "args",
    [["--since", "garbage"], ["--since", "-3h"], ["--since", "400d"], ["--until", "soon"], ["--format", "xml"]],
)
def test_the_command_refuses_bad_arguments_with_exit_2(args):
    with pytest.raises(CommandError) as refused:
        call_command("reliability_report", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert refused.value.returncode == 2
    assert "\n" not in str(refused.value)


def test_the_admin_lists_reports_read_only_and_shows_one_as_text_and_json(client, superuser, staff_user):
    report = reliability_report_generate()
    client.force_login(superuser)
    listing = client.get("/admin/reliability/reliabilityreport/")
    assert listing.status_code == 200
    assert str(report) in listing.content.decode()
    page = client.get(f"/admin/reliability/reliabilityreport/{report.pk}/change/").content.decode()
    assert "Circuit breakers" in page and "&quot;dead_letters&quot;" in page
    assert 'name="_save"' not in page, "nothing to save"
    assert client.post(f"/admin/reliability/reliabilityreport/{report.pk}/delete/").status_code == 403
    client.force_login(staff_user)
    assert client.get("/admin/reliability/reliabilityreport/").status_code == 403
