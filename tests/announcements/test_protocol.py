"""Parsing client frames: what is accepted, and errors that name the problem."""

import json

import pytest

from announcements.protocol import (
    Ack,
    ErrorCode,
    Hello,
    ProtocolError,
    Rating,
    ReceiptState,
    RequestCategory,
    parse_client_message,
    parse_server_message,
)


def test_hello_parses_with_unknown_fields_ignored():
    """A hello with extra fields is accepted; unknown fields are ignored."""
    msg = parse_client_message(json.dumps({"type": "hello", "token": "t", "last_seq": 4, "extra": 1}))
    assert isinstance(msg, Hello) and msg.last_seq == 4


@pytest.mark.parametrize(
    "frame, code, words",
    [
        ("not json", ErrorCode.INVALID, "not valid JSON"),
        ("[1,2]", ErrorCode.INVALID, "JSON object"),
        ('{"type": "dance"}', ErrorCode.UNKNOWN_TYPE, "dance"),
        ('{"type": "ack", "seq": -1}', ErrorCode.INVALID, "seq"),
        ('{"type": "ack"}', ErrorCode.INVALID, "seq"),
        ('{"type": "receipt", "announcement_id": "a", "state": "eaten"}', ErrorCode.INVALID, "state"),
        ('{"type": "receipt", "state": "played"}', ErrorCode.INVALID, "either announcement_id or call_id"),
        ('{"type": "receipt", "announcement_id": "a", "call_id": "c", "state": "played"}', ErrorCode.INVALID, "either"),
        ('{"type": "reply", "client_msg_id": "m1", "category": "other", "text": ""}', ErrorCode.INVALID, "text"),
    ],
)
def test_bad_frames_name_the_problem(frame, code, words):
    """Each bad frame raises a ProtocolError whose code and message say what is wrong."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(frame)
    assert caught.value.code == code
    assert words in caught.value.message


def test_reply_error_carries_its_client_msg_id():
    """An invalid reply's error refers back to its client_msg_id, so the client knows which one failed."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_message('{"type": "reply", "client_msg_id": "m7", "category": "nope", "text": "hi"}')
    assert caught.value.ref == "m7"


def test_lone_surrogate_escape_is_refused_without_echo():
    """A frame with a lone surrogate escape is invalid, and its ref is not echoed (it could not be encoded)."""
    with pytest.raises(ProtocolError) as caught:
        parse_client_message('{"type": "reply", "client_msg_id": "\\ud800", "category": "help", "text": "t"}')
    assert caught.value.code == ErrorCode.INVALID and caught.value.ref is None and "surrogate" in caught.value.message


@pytest.mark.parametrize("frame", ['{"type": "ack", "seq": 7}', '{"type":"ack","seq":7,"extra":"ignored"}'])
def test_ack_fast_path_gives_a_plain_ack(frame):
    """Acks (every screen sends one per event) parse to the same Ack as the general path."""
    assert parse_client_message(frame) == Ack(type="ack", seq=7)


@pytest.mark.parametrize("frame", ['{"type": "ack", "seq": true}', '{"type": "ack", "seq": 1.5}', '{"type": "ack", "seq": -3}'])
def test_odd_acks_still_get_validated(frame):
    """An ack whose seq is not a plain non-negative integer is refused by the full validation."""
    with pytest.raises(ProtocolError):
        parse_client_message(frame)


@pytest.mark.parametrize(
    "frame, field",
    [
        ({"type": "reply", "client_msg_id": "m1", "category": "praise", "text": "hi"}, "category"),
        ({"type": "feedback", "ticket": "A7K-3QX", "rating": "delighted"}, "rating"),
        ({"type": "receipt", "announcement_id": "a", "state": "heard"}, "state"),
    ],
)
def test_what_a_screen_sends_is_held_to_the_vocabulary(frame, field):
    """A category, rating or receipt state outside the protocol's enums is `invalid`, the error listing the known ones."""
    enum = {"category": RequestCategory, "rating": Rating, "state": ReceiptState}[field]
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(json.dumps(frame))
    *known, last = (f"'{member.value}'" for member in enum)
    assert caught.value.code == ErrorCode.INVALID
    assert caught.value.message == f"{field}: Input should be {', '.join(known)} or {last}"


def test_a_screen_reads_values_it_does_not_know():
    """What the server sends keeps any string where the protocol has a vocabulary, so a value added later parses (§3.4, §7.1)."""
    announcement = {"id": "a", "revision": 1, "title": "t", "body": "b", "priority": "siren", "category": "harvest", "language": "fr"}
    frames = [
        {"type": "announcement", "seq": 1, "announcement": announcement},
        {"type": "retract", "seq": 2, "announcement_id": "a", "reason": "superseded"},
        {"type": "request_update", "seq": 3, "ticket": "A7K-3QX", "status": "escalated"},
        {"type": "welcome", "screen_id": "s", "area": "/", "kind": "billboard", "server_time": "2026-11-24T08:00:00Z", "head_seq": 3},
    ]
    event, retract, update, welcome = (parse_server_message(json.dumps(frame)) for frame in frames)
    assert (event.announcement.priority, event.announcement.category, event.announcement.language) == ("siren", "harvest", "fr")
    assert (retract.reason, update.status, welcome.kind) == ("superseded", "escalated", "billboard")


def test_a_receipt_for_a_live_call_reports_on_the_calls_announcement():
    """PROTOCOL.md 1.1: a device reports a call it played by `call_id`, kept as the announcement of the same id."""
    receipt = parse_client_message('{"type": "receipt", "call_id": "c1", "state": "played"}')
    assert (receipt.subject, receipt.state) == ("c1", ReceiptState.PLAYED)
    assert parse_client_message('{"type": "receipt", "announcement_id": "a1", "state": "played"}').subject == "a1"
