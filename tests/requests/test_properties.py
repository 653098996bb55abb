"""Random reply and feedback frames and bodies thrown at the server: never a 500, never a dead connection."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadcast_server.keys import REPLIES
from broadcast_server.ratelimit import RateLimiter
from tests.wsframes import until

CATEGORIES = ["suggestion", "complaint", "help", "dispute", "question", "other"]
RATINGS = ["satisfied", "basically_satisfied", "dissatisfied"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
# Text with what databases and XML choke on: NUL, control characters, non-characters, astral planes.
awkward = st.lists(
    st.sampled_from(["\x00", "\ud800", "\x07", "\x1b", "\ufffe", "\r\n", "<b>", "&amp;", "'; DROP TABLE service_request; --", "😀", "村"])
    | st.characters(codec="utf-8"),
    max_size=40,
).map("".join)
texts = awkward | st.text(max_size=1100) | st.just("长" * 1001)
ids = st.text(min_size=1, max_size=110, alphabet=st.characters(codec="utf-8")) | json_values

reply_fields = st.fixed_dictionaries(
    {},
    optional={
        "client_msg_id": ids,
        "announcement_id": st.none() | st.text(max_size=70) | json_values,
        "category": st.sampled_from(CATEGORIES) | st.text(max_size=20) | json_values,
        "text": texts | json_values,
        "contact": st.none()
        | st.fixed_dictionaries({}, optional={"name": texts | json_values, "phone": st.text(max_size=40) | json_values})
        | json_values,
        "unknown_field": json_values,
    },
)
feedback_fields = st.fixed_dictionaries(
    {},
    optional={
        "ticket": st.text(max_size=50) | st.sampled_from(["ABC-DEF", "abcdef", "ZZZ-ZZZ"]) | json_values,
        "rating": st.sampled_from(RATINGS) | st.text(max_size=20) | json_values,
        "comment": texts | json_values,
    },
)
frames = (
    reply_fields.map(lambda f: json.dumps({"type": "reply", **f}))
    | feedback_fields.map(lambda f: json.dumps({"type": "feedback", **f}))
    | st.text(max_size=200)
)
PROFILE = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@PROFILE
@given(frame=frames)
async def test_random_frames_get_one_answer_and_the_connection_lives(village, gate, frame):
    """Any reply or feedback frame gets exactly one reply_result or error (never internal), and ping still gets pong."""
    village.app[REPLIES].limiter = RateLimiter(0, what="replies")
    ws = gate["ws"]
    await ws.send_str(frame)
    await ws.send_json({"type": "ping"})
    got = await until(ws, "pong", timeout=10)
    answers = [f for f in got if f["type"] in ("reply_result", "error")]
    if frame.startswith('{"type": "feedback"'):
        assert len(answers) <= 1  # a valid feedback is answered by a request_update event, not directly
    else:
        assert len(answers) == 1, got
    assert all(a.get("code") != "internal" for a in answers), answers
    assert not ws.closed


@PROFILE
@given(body=reply_fields | json_values | st.binary(max_size=300))
async def test_random_reply_bodies_never_get_a_500(village, gate, body):
    """POST /replies with any body answers 200, 201, 400 or 422: never a 500."""
    village.app[REPLIES].limiter = RateLimiter(0, what="replies")
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**village.auth(gate["token"]), "Content-Type": "application/json"}
    async with village.http.post(village.url + "/api/v1/replies", data=data, headers=headers) as resp:
        assert resp.status in (200, 201, 400, 422), (resp.status, await resp.text())
        answer = await resp.json(content_type=None)
    if resp.status in (200, 201):
        assert answer["ticket"] and answer["client_msg_id"] == body["client_msg_id"]


async def test_a_lone_surrogate_in_client_msg_id_keeps_the_connection(village, gate):
    """A reply whose client_msg_id holds a lone surrogate (valid JSON) gets an error and the connection stays."""
    await gate["ws"].send_str('{"type": "reply", "client_msg_id": "\\ud800", "category": "help", "text": "t"}')
    await gate["ws"].send_json({"type": "ping"})
    got = await until(gate["ws"], "pong", timeout=5)
    assert [f["type"] for f in got] == ["error", "pong"]
