"""The pronunciation list (读音) with real speech: a word added to the list changes the clip of every notice that says
it, and of no other (the cache key holds the spoken text); the committee's preview says the word as listed too."""

from urllib.parse import quote

import pytest

from tests.e2e.screens import eventually


@pytest.fixture
def speech_enabled() -> bool:
    return True


LAOTING = {"title": "乐亭县通知", "body": "明天上午九点在乐亭县城开会。"}  # eSpeak NG says 乐亭 yuè tíng; it is lào tíng
PLAIN = {"title": "村民大会通知", "body": "明天上午九点在村委会召开村民大会。"}


async def clip_url(village, fields: dict) -> str:
    """Post a notice and wait for its clip."""
    posted = await village.post(**fields)

    async def ready() -> str | None:
        _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
        assert detail["speech_status"] != "failed", detail["speech_error"]
        return detail["audio"]["url"] if detail["audio"] else None

    return await eventually(ready, 90)


async def preview(village, text: str) -> bytes:
    async with village.http.post(village.url + "/api/v1/speech/preview", headers=village.auth(), json={"text": text}) as resp:
        assert resp.status == 200 and resp.content_type == "audio/mpeg"
        return await resp.read()


async def test_a_listed_word_changes_the_clips_that_say_it_and_no_other(village):
    before = await clip_url(village, LAOTING)
    plain = await clip_url(village, PLAIN)
    heard = await preview(village, "乐亭")
    await village.call("PUT", "/pronunciations/" + quote("乐亭"), json={"say": "lao4 ting2"}, expect=200)

    after = await clip_url(village, LAOTING)
    assert after != before, "the notice that says 乐亭 is synthesized anew"
    assert await clip_url(village, PLAIN) == plain, "a notice without the word keeps its clip"
    assert await preview(village, "乐亭") != heard, "the preview says the word as listed"
