"""Area paths and the covers rule."""

import pytest

from announcements.areas import covers, lineage, normalize_area


@pytest.mark.parametrize(
    "given, expected",
    [("/", "/"), ("/hongqi", "/hongqi"), ("/hongqi/liujingtun/", "/hongqi/liujingtun"), ("/红旗/柳井屯", "/红旗/柳井屯")],
)
def test_normalize_accepts_paths(given, expected):
    """Valid paths come back canonical (no trailing slash; Chinese names allowed)."""
    assert normalize_area(given) == expected


@pytest.mark.parametrize("bad", ["", "hongqi", "/a//b", "/a b", "/a/<script>", "/" + "/".join("x" * 9)])
def test_normalize_rejects_bad_paths(bad):
    """Paths without a leading slash, with empty or odd segments, or too deep are refused."""
    with pytest.raises(ValueError):
        normalize_area(bad)


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
