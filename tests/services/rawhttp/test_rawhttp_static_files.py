"""Static file resolution (no way out of the root), ETag and Range, without a network."""

from __future__ import annotations

import os

import pytest

from services.rawhttp.static_files import StaticFiles, parse_range, percent_decode


@pytest.fixture
def root(tmp_path):
    docroot = tmp_path / "root"
    (docroot / "sub").mkdir(parents=True)
    (docroot / "index.html").write_text("<h1>home</h1>")
    (docroot / "sub" / "page.txt").write_text("0123456789")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    os.symlink(tmp_path / "secret.txt", docroot / "link-out.txt")
    os.symlink(tmp_path, docroot / "dir-out")
    os.symlink(docroot / "sub" / "page.txt", docroot / "link-in.txt")
    return docroot


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/link-out.txt",
        "/dir-out/secret.txt",
        "/..\\secret.txt",
        "/%00index.html",
        "/%zz",
        "/%ff%fe",
        "/missing.txt",
    ],
)
def test_paths_outside_the_root_or_missing_resolve_to_nothing(root, path):
    assert StaticFiles(root).resolve(path) is None
    assert StaticFiles(root).respond(path, {}) is None


def test_absolute_looking_paths_stay_inside(root, tmp_path):
    # "//etc/passwd" means "etc/passwd under the root", never the real /etc/passwd.
    assert StaticFiles(root).resolve("//etc/passwd") is None
    assert StaticFiles(root).resolve(f"/{tmp_path}/secret.txt") is None


def test_files_inside_resolve(root):
    static = StaticFiles(root)
    assert static.resolve("/") == (root / "index.html").resolve()
    assert static.resolve("/sub/./page.txt") == (root / "sub" / "page.txt").resolve()
    assert static.resolve("/link-in.txt") == (root / "sub" / "page.txt").resolve()
    assert static.resolve("/sub/%70age.txt") == (root / "sub" / "page.txt").resolve()


def test_etag_and_conditional_get(root):
    static = StaticFiles(root)
    first = static.respond("/sub/page.txt", {})
    etag = dict(first.headers)["ETag"]
    assert first.status == 200 and first.body == b"0123456789"
    assert dict(first.headers)["Content-Type"] == "text/plain; charset=utf-8"
    assert static.respond("/sub/page.txt", {"if-none-match": etag}).status == 304
    assert static.respond("/sub/page.txt", {"if-none-match": f'"x", W/{etag}'}).status == 304
    assert static.respond("/sub/page.txt", {"if-none-match": '"other"'}).status == 200


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=0-3", 206, b"0123", "bytes 0-3/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-2", 206, b"89", "bytes 8-9/10"),
        ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
        ("bytes=10-", 416, None, "bytes */10"),
        ("bytes=0-1,3-4", 200, b"0123456789", None),  # several ranges: the whole file
        ("items=0-1", 200, b"0123456789", None),
        ("bytes=5-2", 200, b"0123456789", None),
    ],
)
def test_ranges(root, header, status, body, content_range):
    response = StaticFiles(root).respond("/sub/page.txt", {"range": header})
    assert response.status == status
    if body is not None:
        assert response.body == body
    assert dict(response.headers).get("Content-Range") == content_range


def test_if_range_with_a_stale_etag_sends_the_whole_file(root):
    response = StaticFiles(root).respond(
        "/sub/page.txt", {"range": "bytes=0-1", "if-range": '"old"'}
    )
    assert response.status == 200 and response.body == b"0123456789"


def test_parse_range_and_percent_decode():
    assert parse_range("bytes=0-0", 1) == (0, 0)
    assert parse_range("bytes=-5", 0) is None
    assert percent_decode("/a%20b") == b"/a b"
    assert percent_decode("/a%2") is None
