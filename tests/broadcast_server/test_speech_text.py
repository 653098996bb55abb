"""The spoken form over HTTP (PROTOCOL.md 1.1 `"format": "text"` of POST /speech/preview): what the clerk reads
before posting, answered here on a server whose speech is off, since it needs no synthesis."""


async def test_preview_as_text_shows_what_the_loudspeaker_will_say(village):
    """Numbers, times and phone numbers as a person says them; English as written."""
    body = {"text": "请于12月5日9:30到村委会，电话13800001234。", "language": "zh", "format": "text"}
    status, answer = await village.call("POST", "/speech/preview", json=body)
    assert (status, answer) == (200, {"spoken": "请于十二月五日九点三十分到村委会，电话幺三八零零零零幺二三四。"})
    status, answer = await village.call("POST", "/speech/preview", json={**body, "language": "en", "text": "Meet at 9:30."})
    assert (status, answer) == (200, {"spoken": "Meet at 9:30."})
    status, _ = await village.call("POST", "/speech/preview", json={**body, "format": "mp3"})
    assert status == 503, "the clip itself needs speech, which is off here"
    status, problem = await village.call("POST", "/speech/preview", json={**body, "format": "ogg"})
    assert status == 422 and problem["errors"][0]["loc"][-1] == "format"
