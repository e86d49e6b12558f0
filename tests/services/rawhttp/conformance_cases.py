"""The conformance table: request bytes -> the answers rawhttp must give, and whether
the connection stays open. ``test_rawhttp_conformance.py`` sends each case over a real
socket, in one write, to every mode (selectors, threads, blocking) parsing strict and
lenient.

To add a case, append a ``Case``. The runner appends a probe
(``GET /healthz ... Connection: close``) to the same write, so:

* ``kept(200, 404)``: exactly these answers, then the probe's 200: the connection stayed
  open and nothing else (no smuggled request) was answered;
* ``closed(400)``: exactly these answers, then the server closed the connection (the
  probe, like anything smuggled after the error, was never served).

``lenient`` is only given where lenient parsing answers differently; the comments say
what a CRLF-only front end would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
# A request that must never be answered on its own when it hides in a body (404 here).
SMUGGLED = b"GET /admin HTTP/1.1\r\nHost: t\r\n\r\n"
FOLLOW = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


@dataclass(frozen=True)
class Expect:
    statuses: tuple[int, ...]
    open: bool  # the connection is still open after the last of them


def kept(*statuses: int) -> Expect:
    return Expect(statuses, True)


def closed(*statuses: int) -> Expect:
    return Expect(statuses, False)


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    strict: Expect
    lenient: Expect | None = None  # None: the same as strict

    def expect(self, strict: bool) -> Expect:
        return self.strict if strict or self.lenient is None else self.lenient


def post_echo(headers: bytes, body: bytes, version: bytes = b"1.1") -> bytes:
    return b"POST /echo HTTP/" + version + b"\r\nHost: t\r\n" + headers + b"\r\n" + body


TE = b"Transfer-Encoding: chunked\r\n"

CASES: list[Case] = [
    # -- controls: what must keep working -------------------------------------------------
    Case("plain-get", FOLLOW, kept(200)),
    Case("pipelined", FOLLOW + SMUGGLED, kept(200, 404)),
    Case("content-length-body", post_echo(b"Content-Length: 5\r\n", b"hello") + FOLLOW, kept(200, 200)),
    Case("chunked-body", post_echo(TE, b"5\r\nhello\r\n0\r\n\r\n") + FOLLOW, kept(200, 200)),
    Case("chunked-mixed-case", post_echo(b"Transfer-Encoding: Chunked\r\n", b"0\r\n\r\n"), kept(200)),
    Case("host-with-port", b"GET /healthz HTTP/1.1\r\nHost: a.example:80\r\n\r\n", kept(200)),
    Case("host-ipv6", b"GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", kept(200)),
    Case("host-empty", b"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n", kept(200)),
    # -- 1. only SP and HTAB are whitespace: \xa0 (NBSP) and \x85 (NEL) are not trimmed ------
    # A front end that does not trim them sees an unknown coding or a bad length.
    Case("te-chunked-nbsp", post_echo(b"Transfer-Encoding: chunked\xa0\r\n", b"0\r\n\r\n" + SMUGGLED),
         closed(400), lenient=closed(501)),
    Case("te-chunked-nel", post_echo(b"Transfer-Encoding: chunked\x85\r\n", b"0\r\n\r\n" + SMUGGLED),
         closed(400), lenient=closed(501)),
    Case("te-nbsp-chunked", post_echo(b"Transfer-Encoding: \xa0chunked\r\n", b"0\r\n\r\n" + SMUGGLED),
         closed(400), lenient=closed(501)),
    Case("te-chunked-unit-separator", post_echo(b"Transfer-Encoding: chunked\x1f\r\n", b"0\r\n\r\n"),
         closed(400)),
    Case("cl-nbsp-4", post_echo(b"Content-Length: \xa04\r\n", b"abcd" + SMUGGLED), closed(400)),
    Case("cl-4-nel", post_echo(b"Content-Length: 4\x85\r\n", b"abcd" + SMUGGLED), closed(400)),
    # -- 2. an empty Transfer-Encoding is a Transfer-Encoding (RFC 9112 §6.3) ---------------
    Case("te-empty", post_echo(b"Transfer-Encoding:\r\n", SMUGGLED), closed(400)),
    Case("te-comma-only", post_echo(b"Transfer-Encoding: ,\r\n", SMUGGLED), closed(400)),
    Case("te-empty-with-cl",
         post_echo(b"Transfer-Encoding:\r\nContent-Length: 33\r\n", SMUGGLED), closed(400)),
    Case("cl-then-empty-te",
         post_echo(b"Content-Length: 33\r\nTransfer-Encoding: \r\n", SMUGGLED), closed(400)),
    # -- classic TE/CL desyncs ------------------------------------------------------------
    Case("cl-and-te", post_echo(b"Content-Length: 4\r\n" + TE, b"0\r\n\r\n" + SMUGGLED), closed(400)),
    Case("te-twice", post_echo(TE + TE, b"0\r\n\r\n"), closed(400)),
    Case("te-space-before-colon", post_echo(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"),
         closed(400)),
    Case("te-obs-fold", post_echo(b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), closed(400)),
    Case("te-deflate-chunked",
         post_echo(b"Transfer-Encoding: deflate, chunked\r\n", b"0\r\n\r\n"), closed(501)),
    Case("cl-conflicting", post_echo(b"Content-Length: 4\r\nContent-Length: 5\r\n", b"abcde"),
         closed(400)),
    Case("cl-plus", post_echo(b"Content-Length: +4\r\n", b"abcd"), closed(400)),
    # -- 3. line endings: strict is CRLF only; lenient takes a bare LF as RFC 9112 §2.2 allows
    # llhttp "Missing CR between headers". A CRLF-only front end sees one header
    # "Dummy: x\nContent-Length: 23" (no length), then a second request for / with a
    # "Dummy: GET /admin HTTP/1.1" header. A lenient back end reads Content-Length: 23,
    # whose body swallows "GET / HTTP/1.1\r\nDummy: ", and serves GET /admin: smuggled.
    Case("missing-cr-between-headers",
         b"GET / HTTP/1.1\r\nHost: t\r\nDummy: x\nContent-Length: 23\r\n\r\n"
         b"GET / HTTP/1.1\r\nDummy: GET /admin HTTP/1.1\r\nHost: t\r\n\r\n",
         closed(400), lenient=kept(200, 404)),
    Case("crlf-then-lf-ends-head", b"GET /healthz HTTP/1.1\r\nHost: t\r\n\n" + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    Case("lf-only-head", b"GET /healthz HTTP/1.1\nHost: t\n\n" + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    Case("lf-after-request-line", b"GET /healthz HTTP/1.1\nHost: t\r\n\r\n",
         closed(400), lenient=kept(200)),
    Case("leading-bare-lf", b"\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
         closed(400), lenient=kept(200)),
    Case("leading-crlf", b"\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", kept(200)),
    Case("bare-cr-in-value", b"GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", closed(400)),
    # -- 4. chunk framing: RFC 9112 §7.1.1 chunk-ext, the same LF rule everywhere ----------
    Case("chunk-ext-token", post_echo(TE, b"5;a=b;c\r\nhello\r\n0\r\n\r\n") + FOLLOW,
         kept(200, 200)),
    Case("chunk-ext-quoted", post_echo(TE, b'5;a="b \\" c";d=e\r\nhello\r\n0\r\n\r\n') + FOLLOW,
         kept(200, 200)),
    Case("chunk-ext-bws", post_echo(TE, b"5 ; a = b\r\nhello\r\n0\r\n\r\n") + FOLLOW,
         kept(200, 200)),
    Case("chunk-ext-nul", post_echo(TE, b"5;a=\x00\r\nhello\r\n0\r\n\r\n" + SMUGGLED), closed(400)),
    Case("chunk-ext-cr", post_echo(TE, b"5;a\rb\r\nhello\r\n0\r\n\r\n" + SMUGGLED), closed(400)),
    # A front end that ends the size line at CRLF only reads "5;a\nxx" as one line.
    Case("chunk-ext-lf", post_echo(TE, b"5;a\nhello\r\n0\r\n\r\n") + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    Case("chunk-ext-unbalanced-quote",
         post_echo(TE, b'5;a="b\r\nhello\r\n0\r\n\r\n' + SMUGGLED), closed(400)),
    Case("chunk-ext-bare-semicolon", post_echo(TE, b"5;\r\nhello\r\n0\r\n\r\n" + SMUGGLED),
         closed(400)),
    Case("chunk-ext-no-name", post_echo(TE, b"5;=b\r\nhello\r\n0\r\n\r\n"), closed(400)),
    Case("chunk-ext-space-in-value", post_echo(TE, b"5;a=b c\r\nhello\r\n0\r\n\r\n"), closed(400)),
    Case("chunk-size-trailing-space", post_echo(TE, b"5 \r\nhello\r\n0\r\n\r\n") + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    Case("chunk-size-lf", post_echo(TE, b"5\nhello\r\n0\r\n\r\n") + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    Case("chunk-data-lf", post_echo(TE, b"5\r\nhello\n0\r\n\r\n") + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    Case("chunk-last-lf", post_echo(TE, b"5\r\nhello\r\n0\n\n") + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    Case("chunk-data-bad-end", post_echo(TE, b"5\r\nhelloXX0\r\n\r\n"), closed(400)),
    Case("chunk-size-0x", post_echo(TE, b"0x5\r\nhello\r\n0\r\n\r\n"), closed(400)),
    Case("chunk-size-17-digits", post_echo(TE, b"00000000000000005\r\nhello\r\n0\r\n\r\n"),
         closed(400)),
    Case("trailer-ok", post_echo(TE, b"0\r\nX-T: yes\r\n\r\n") + FOLLOW, kept(200, 200)),
    Case("trailer-nul", post_echo(TE, b"0\r\nX-T: a\x00b\r\n\r\n" + SMUGGLED), closed(400)),
    Case("trailer-bare-lf", post_echo(TE, b"0\r\nX-T: a\n\r\n") + FOLLOW,
         closed(400), lenient=kept(200, 200)),
    # -- 5. RFC MUSTs ---------------------------------------------------------------------
    Case("host-comma", b"GET /healthz HTTP/1.1\r\nHost: a, b\r\n\r\n" + FOLLOW, closed(400)),
    Case("host-space", b"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n" + FOLLOW, closed(400)),
    Case("host-userinfo", b"GET /healthz HTTP/1.1\r\nHost: a@b\r\n\r\n" + FOLLOW, closed(400)),
    Case("host-missing", b"GET /healthz HTTP/1.1\r\n\r\n", closed(400)),
    Case("host-twice", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", closed(400)),
    # RFC 9112 §6.1: answered, then closed, even though it asked for keep-alive.
    Case("http10-te",
         post_echo(b"Connection: keep-alive\r\n" + TE, b"0\r\n\r\n" + SMUGGLED, version=b"1.0"),
         closed(200)),
    Case("http10-keep-alive", b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
         kept(200)),
    # -- 6. interop -----------------------------------------------------------------------
    Case("options-asterisk", b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n" + FOLLOW, kept(200, 200)),
    Case("asterisk-not-options", b"GET * HTTP/1.1\r\nHost: t\r\n\r\n" + FOLLOW, kept(400, 200)),
    Case("unknown-method", b"FOO /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + FOLLOW, kept(501, 200)),
    Case("unknown-method-body",
         b"PROPFIND /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd" + FOLLOW,
         kept(501, 200)),
    Case("known-method-no-route", b"DELETE /nothing HTTP/1.1\r\nHost: t\r\n\r\n", kept(404)),
    Case("http09", b"GET /\r\n", closed(400)),
    Case("http2-version", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", closed(505)),
]  # fmt: skip
