"""The DLQ ops API: who may call it, and what unknown ids and settled letters get."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from reliability.audit import AuditRecord
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from reliability.errors import TransientError

pytestmark = pytest.mark.django_db

SUMMARY = "/admin/reliability/dlq"


def retry_url(letter_id) -> str:
    return f"/admin/reliability/dlq/{letter_id}/retry"


@pytest.fixture
def replayer(operator_factory):
    return operator_factory("replay_deadletter", username="replayer")


def test_anonymous_callers_get_401_with_a_message(client, make_letter):
    letter = make_letter()
    for response in (client.get(SUMMARY), client.post(retry_url(letter.pk))):
        assert response.status_code == 401
        assert response.json()["detail"] == "Authentication credentials were not provided."
    assert DeadLetter.objects.get(pk=letter.pk).status == "pending"


def test_non_staff_users_get_403(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("customer", password="pw-123456"))
    response = client.get(SUMMARY)
    assert response.status_code == 403
    assert response.json()["detail"] == "staff only"


def test_staff_read_counts_by_status_and_type_oldest_age_and_groups(client, staff_user, make_letter):
    make_letter()
    make_letter()
    letter = make_letter(message_type="sentiment_analysis")
    DeadLetter.objects.filter(pk=letter.pk).update(status=DeadLetterStatus.EXHAUSTED)
    client.force_login(staff_user)

    body = client.get(SUMMARY).json()

    assert body["by_status"]["pending"] == 2 and body["by_status"]["exhausted"] == 1
    assert body["by_type"] == {"ops_test_message": {"pending": 2}, "sentiment_analysis": {"exhausted": 1}}
    assert body["backlog"] == 3
    assert body["oldest_age_seconds"] >= 0
    assert sorted(g["count"] for g in body["groups"]) == [1, 2]


def test_retry_needs_the_replay_permission(client, staff_user, make_letter, handler):
    letter = make_letter()
    client.force_login(staff_user)
    response = client.post(retry_url(letter.pk))
    assert response.status_code == 403
    assert "reliability.replay_deadletter" in response.json()["detail"]
    assert handler.calls == []


def test_retry_replays_the_letter_and_returns_the_outcome(client, replayer, make_letter, handler):
    letter = make_letter()
    client.force_login(replayer)

    response = client.post(retry_url(letter.pk))

    assert response.status_code == 200
    assert response.json() | {"next_retry_at": None} == {
        "id": letter.pk,
        "outcome": "resolved",
        "resolved": True,
        "status": "resolved",
        "next_retry_at": None,
        "error_class": "",
        "error_message": "",
    }
    assert len(handler.calls) == 1
    assert AuditRecord.objects.get(action="dead_letter.replay").actor_label == "api:replayer"


def test_a_failing_retry_reports_the_failure(client, replayer, make_letter, handler):
    letter = make_letter(fail=True)
    client.force_login(replayer)
    body = client.post(retry_url(letter.pk)).json()
    assert body["outcome"] == "failed" and body["status"] == "pending"
    assert body["error_class"] == "reliability.errors.TransientError"
    assert body["next_retry_at"] is not None


def test_retry_with_a_token(client, replayer, make_letter, handler):
    letter = make_letter()
    token = Token.objects.create(user=replayer)
    response = client.post(retry_url(letter.pk), headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 200
    assert DeadLetter.objects.get(pk=letter.pk).status == "resolved"


@pytest.mark.parametrize("letter_id", ["999999", "abc"])
def test_unknown_ids_get_a_404_json(client, replayer, letter_id):
    client.force_login(replayer)
    response = client.post(retry_url(letter_id))
    assert response.status_code == 404
    assert response.json()["detail"].startswith("dead letter not found")


@pytest.mark.parametrize("status", [DeadLetterStatus.RESOLVED, DeadLetterStatus.DISCARDED])
def test_a_settled_letter_gets_a_409(client, replayer, make_letter, handler, status):
    letter = make_letter()
    DeadLetter.objects.filter(pk=letter.pk).update(status=status)
    client.force_login(replayer)
    response = client.post(retry_url(letter.pk))
    assert response.status_code == 409
    assert response.json() == {"detail": f"dead letter #{letter.pk} is {status}: cannot replay it", "status": status}
    assert handler.calls == []


def test_the_summary_narrows_to_the_fingerprint_a_unique_prefix_names(client, staff_user, make_letter):
    group = [make_letter(), make_letter()]
    make_letter(error=TransientError("another failure"))
    client.force_login(staff_user)

    body = client.get(SUMMARY, {"fingerprint": group[0].fingerprint[:8]}).json()

    assert body["fingerprint"] == group[0].fingerprint
    assert [(g["fingerprint"], g["count"]) for g in body["groups"]] == [(group[0].fingerprint, 2)]
    assert body["backlog"] == 3  # the counts stay those of the whole queue


def test_a_bad_ambiguous_or_unknown_fingerprint_prefix_is_a_4xx_with_a_message(client, staff_user, make_letter):
    letter = make_letter()
    DeadLetter.objects.filter(pk=letter.pk).update(fingerprint="a09fdf7c1e2f" + "0" * 52)
    DeadLetter.objects.create(message_type="x", error_class="E", fingerprint="a09fdf7c99aa" + "0" * 52)
    client.force_login(staff_user)

    ambiguous = client.get(SUMMARY, {"fingerprint": "a09fdf7c"})
    assert ambiguous.status_code == 400
    assert ambiguous.json()["candidates"] == [
        {"fingerprint": "a09fdf7c1e2f", "count": 1},
        {"fingerprint": "a09fdf7c99aa", "count": 1},
    ]
    assert ambiguous.json()["detail"].startswith("fingerprint prefix a09fdf7c is ambiguous")
    short = client.get(SUMMARY, {"fingerprint": "a09f"})
    assert short.status_code == 400
    assert short.json() == {"detail": "a fingerprint prefix is 8 to 64 hexadecimal characters, not 'a09f'"}
    assert client.get(SUMMARY, {"fingerprint": "a09f\x00dfc7"}).status_code == 400
    unknown = client.get(SUMMARY, {"fingerprint": "b09fdf7c"})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no dead letter has a fingerprint starting with b09fdf7c"}
