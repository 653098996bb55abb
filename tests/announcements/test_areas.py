"""Area paths and the covers rule."""

import re

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from announcements.areas import AREA_PATTERN, covers, in_area_subtree, lineage, normalize_area
from announcements.database import Database
from announcements.models import Area
from announcements.timeutil import utcnow
from broadcast_server.settings import load_settings


@pytest.mark.parametrize(
    "given, expected",
    [("/", "/"), ("/hongqi", "/hongqi"), ("/hongqi/liujingtun/", "/hongqi/liujingtun"), ("/a-1/b_2", "/a-1/b_2")],
)
def test_normalize_accepts_paths(given, expected):
    """Valid paths come back canonical (no trailing slash)."""
    assert normalize_area(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "", "hongqi", "/a//b", "/a b", "/a/<script>", "/" + "/".join("x" * 9), "/" + "x" * 65,
        "/A/B", "/a/B", "/ａ/ｂ", "/a/b\n", "/a/b\r", "/a\t", "/红旗/柳井屯", "/a/b%", "/a/./b", "/a/../b",
    ],
)
def test_normalize_rejects_bad_paths(bad):
    """Paths without a leading slash, with empty or odd segments, too deep, or in another case or width are refused.

    One spelling per area: a case or fullwidth variant of a path cannot exist to slip past a scope check.
    """
    with pytest.raises(ValueError):
        normalize_area(bad)


def test_area_pattern_is_the_same_rule():
    """The pattern published in the OpenAPI document accepts exactly what normalize_area keeps as is."""
    for path in ["/", "/a", "/hongqi/liujingtun", "/" + "/".join("x" * 8), "/A", "/a/", "/a b", "/ａ", "/a\n"]:
        try:
            accepted = normalize_area(path) == path
        except ValueError:
            accepted = False
        assert bool(re.fullmatch(AREA_PATTERN, path)) is accepted, path


@pytest.mark.parametrize(
    "scope, path, expected",
    [
        ("/", "/a", True),
        ("/a", "/a", True),
        ("/a", "/a/b/c", True),
        ("/a", "/ab", False),
        ("/a/b", "/a", False),
    ],
)
def test_covers_by_whole_segments(scope, path, expected):
    """An area covers itself and what is below it, never a sibling sharing a prefix."""
    assert covers(scope, path) is expected


def test_lineage_lists_ancestors_root_first():
    """The ancestors of a path, root first, end with the path itself."""
    assert lineage("/a/b") == ["/", "/a", "/a/b"]


# Stored paths as they might be in an old database, before paths were kept to one spelling.
STORED = ["/a", "/a/b", "/a/b/c", "/a/bc", "/a/b_", "/a/b%", "/A/B", "/A/B/x", "/a/B/x", "/ａ/ｂ", "/x/a/b", "/a/b/c/d"]


@pytest.mark.parametrize("scope", ["/", "/a", "/a/b", "/A/B", "/a/b_", "/a/b%", "/a/b/c"])
async def test_sql_scope_is_the_python_rule(database_settings, scope):
    """`in_area_subtree` selects exactly the rows `covers` accepts, on SQLite and PostgreSQL.

    SQLite's LIKE ignores ASCII case: a scope of `/a/b` once saw `/A/B/x`. The scopes with `_` and `%` keep those literal.
    """
    settings = load_settings(None, **database_settings)
    db = Database(settings.db_url, schema=settings.database_schema)
    try:
        await db.migrate()
        async with db.write() as session:
            await (await session.connection()).execute(
                sa.insert(Area.__table__), [{"path": p, "name": p, "created_at": utcnow()} for p in STORED]
            )
        async with db.read() as session:
            found = set((await session.exec(select(Area.path).where(in_area_subtree(col(Area.path), scope)))).all())
    finally:
        await db.close()
    assert found == {p for p in STORED if covers(scope, p)}
