"""The accounts page in Chromium against a real server: an admin changes a person's display name, role and area (the
area chosen by its name) and the table shows it by name; changing their own role is refused in Chinese and changes
nothing. At a desk's and a phone's size, with screenshots in both languages."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.pages import sign_in_with_password
from tests.web.test_console import VILLAGE, console_page, make_areas
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE

PASSWORD = "村口大槐树-2026"
PATH_TEXT = "/hongqi"  # any area path showing in a page is a leak: people read names


def user_row(console, name: str):
    return console.page.locator(f'[data-testid="user-row"][data-name="{name}"]')


async def users_by_name(village) -> dict[str, tuple[str, str, str]]:
    _, users = await village.call("GET", "/users", expect=200)
    return {u["name"]: (u["display_name"], u["role"], u["area"]) for u in users}


async def fit_and_shoot(console, screenshot, name: str) -> None:
    """No sideways scroll, every button reachable, no path in the page; then a screenshot from the top."""
    assert await console.page.evaluate(OUT_OF_VIEW) == []
    assert PATH_TEXT not in await console.by("view").inner_text()
    await console.page.evaluate("scrollTo(0, 0)")
    await screenshot(console.page, name)


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_an_admin_changes_a_workers_role_and_area_but_not_their_own(village, browser, screenshot, size):
    await make_areas(village)
    for name, display, role, area in (("root", "县管理员", "admin", "/"), ("wang", "王芳", "worker", VILLAGE + "/grid-3")):
        await village.call("POST", "/users", expect=201,
                           json={"name": name, "display_name": display, "role": role, "area": area, "password": PASSWORD})
    suffix = f"{size[0]}x{size[1]}"

    async with console_page(browser, village, width=size[0]) as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        await sign_in_with_password(console, "root", PASSWORD)
        await console.open("people")
        wang = user_row(console, "wang")
        await expect(wang).to_contain_text("网格员")
        await expect(wang).to_contain_text("第三网格")

        await wang.get_by_test_id("user-edit").click()
        await expect(console.by("user-edit-display-name")).to_have_value("王芳")
        await console.by("user-edit-display-name").fill("王芳（村委）")
        await console.by("user-edit-role").select_option(label="村委会")
        await console.by("user-edit-area").select_option(label="东风村")
        await fit_and_shoot(console, screenshot, f"console-people-edit-zh-{suffix}")
        await console.by("user-edit-save").click()
        await expect(wang).to_contain_text("王芳（村委）")
        await expect(wang).to_contain_text("村委会")
        await expect(wang).to_contain_text("东风村")
        await expect(console.by("user-edit-form")).to_have_count(0)
        assert (await users_by_name(village))["wang"] == ("王芳（村委）", "committee", "/dongfeng")
        await fit_and_shoot(console, screenshot, f"console-people-zh-{suffix}")

        # the admin signed in cannot demote themselves: worded in Chinese, nothing changed
        await user_row(console, "root").get_by_test_id("user-edit").click()
        await console.by("user-edit-role").select_option(label="网格员")
        await console.by("user-edit-save").click()
        await expect(console.by("user-edit-error")).to_have_text("不能更改自己的角色或区域，请另一位管理员来改。")
        assert (await users_by_name(village))["root"] == ("县管理员", "admin", "/")
        await fit_and_shoot(console, screenshot, f"console-people-edit-self-zh-{suffix}")
        console.assert_clean()

    async with console_page(browser, village, village.admin, width=size[0], lang="en", at="people") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        await user_row(console, "wang").get_by_test_id("user-edit").click()
        await expect(console.by("user-edit-area").locator("option:checked")).to_have_text("东风村")
        await fit_and_shoot(console, screenshot, f"console-people-en-{suffix}")
        console.assert_clean(village.admin)
