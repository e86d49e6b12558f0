"""HTTP/1.1 request parsing, sans-I/O: bytes in, events out (the h11 shape, written small).

``RequestParser.feed(data)`` buffers bytes; ``next_event()`` returns one of

* ``Request``: a complete request, body included (bodies are bounded by ``Limits``),
* ``ExpectContinue``: the head asked for ``100 Continue`` before it sends its body,
* ``ProtocolError``: the bytes broke a rule; ``status`` is the answer to send, then close,
* ``NEED_DATA``: nothing more until the next ``feed()``.

No sockets, no clocks: the connection code decides about timeouts, this module only
about bytes. Every rule lives here once, so it can be unit-tested and fuzzed with any
fragmentation of the input. Each error message names the offending bytes.

An error is returned once and is final: afterwards ``feed()`` ignores input and
``next_event()`` returns ``NEED_DATA``; the connection answers the error and closes.

States: HEAD (waiting for the blank line) -> BODY (Content-Length) or CHUNK_SIZE ->
CHUNK_DATA -> ... -> TRAILERS -> back to HEAD for the next (pipelined) request. Any
error moves to ERROR, which is final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# RFC 9110 §5.6.2: token = 1*tchar
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE: Final = re.compile(_TOKEN)
# The start of a header line, to tell a bad name from a bad value in error messages.
_HEADER_NAME_RE: Final = re.compile(rb"(" + _TOKEN + rb"):[ \t]*")
_TOKEN_STR = _TOKEN.decode()
# A whole header line: name (touching the colon), OWS, a value without control bytes
# (HTAB and obs-text allowed) that does not end in whitespace, OWS, an optional CR, LF.
# Matching the whole header block with these in C is about twice as fast as a regex per
# line driven from Python (measured: 5.8 vs 11.8 us for 8 browser headers).
_VALUE = r"(?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?"
_HEADER_LINE_RE: Final = re.compile("(" + _TOKEN_STR + r"):[ \t]*(" + _VALUE + r")[ \t]*\r?\n")
_HEADER_BLOCK_RE: Final = re.compile("(?:" + _TOKEN_STR + r":[ \t]*" + _VALUE + r"[ \t]*\r?\n)*")
# One trailer line (trailers are read and dropped): the same rule as a header line.
_TRAILER_RE: Final = re.compile(rb"(" + _TOKEN + rb"):[ \t]*" + _VALUE.encode() + rb"[ \t]*")
_TARGET_RE: Final = re.compile(rb"[\x21-\x7e]+")
_REQUEST_LINE_RE: Final = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
# RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
# (RFC 9110 §5.6.4: quoted-string, with quoted-pair; no CTLs but HTAB inside).
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = (
    rb"(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
)
_CHUNK_SIZE_RE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})" + _CHUNK_EXT)
# Lenient: whitespace after the size (or after the extensions) is also let through.
_CHUNK_SIZE_LENIENT_RE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})" + _CHUNK_EXT + rb"[ \t]*")
# RFC 9112 §3.2 with RFC 3986 §3.2.2: uri-host [ ":" port ]; uri-host is an IP-literal
# or a reg-name (unreserved / pct-encoded / sub-delims). No space, "@", "/", "?", "#".
_HOST_RE: Final = re.compile(
    r"(?:\[[0-9A-Za-z.:%_~!$&'()*+,;=-]+\]|(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)"
    r"(?::[0-9]*)?"
)
_OBS_TEXT_RE: Final = re.compile(r"[\x80-\xff]")
# RFC 9110 §5.6.3: OWS is SP and HTAB only. str.strip() would also eat \xa0, \x85 and
# \x1c-\x1f: a front end that does not would frame the request differently.
OWS: Final = " \t"
_DIGITS_RE: Final = re.compile(rb"[0-9]{1,18}")

# Transfer codings from the IANA registry; anything else is "unknown" (501).
KNOWN_CODINGS: Final = frozenset(
    {"chunked", "compress", "deflate", "gzip", "x-gzip", "x-compress", "trailers"}
)
MAX_CHUNK_LINE: Final = 1024


@dataclass(frozen=True)
class Limits:
    max_request_line: int = 8190  # bytes before the line break -> 414
    max_head: int = 16384  # request line + headers + blank line -> 431
    max_headers: int = 100  # header lines -> 431
    max_body: int = 1 << 20  # decoded body bytes -> 413


@dataclass(slots=True)
class Request:
    method: str
    target: str
    version: str  # "HTTP/1.0" or "HTTP/1.1"
    headers: list[tuple[str, str]]  # names lower-cased, values as sent (latin-1)
    body: bytes
    raw: bytes  # exactly the bytes this request arrived as (head, body, chunk framing)
    keep_alive: bool

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


@dataclass(frozen=True)
class ProtocolError:
    status: int
    message: str


@dataclass(frozen=True)
class ExpectContinue:
    pass


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
Event = Request | ProtocolError | ExpectContinue | _NeedData

HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, TRAILERS, ERROR = (
    "HEAD",
    "BODY",
    "CHUNK_SIZE",
    "CHUNK_DATA",
    "TRAILERS",
    "ERROR",
)


def show(data: bytes | bytearray, limit: int = 60) -> str:
    """The offending bytes, short enough for an error line."""
    data = bytes(data)
    if len(data) > limit:
        return repr(data[:limit]) + f"... ({len(data)} bytes)"
    return repr(data)


def show_text(value: str, limit: int = 60) -> str:
    """A latin-1 header value shown as the bytes it arrived as."""
    return show(value.encode("latin-1"), limit)


class RequestParser:
    """``strict`` (the default): CRLF only, everywhere. Lenient: a bare LF also ends a line
    (RFC 9112 §2.2 lets a recipient accept it), mixed line endings in one head included,
    and whitespace after a chunk size; the lesson on why leniency lets requests be smuggled
    past a front end that frames by CRLF alone."""

    def __init__(self, limits: Limits | None = None, *, strict: bool = True) -> None:
        self.limits = limits or Limits()
        self.strict = strict
        self._chunk_size_re = _CHUNK_SIZE_RE if strict else _CHUNK_SIZE_LENIENT_RE
        self.state = HEAD
        self._buf: bytes | bytearray = b""
        self._error: ProtocolError | None = None
        self._reset_message()

    def _reset_message(self) -> None:
        self._pos = 0  # where parsing of the current message's body/chunks resumes
        self._head: tuple[str, str, str, list[tuple[str, str]], bool] | None = None
        self._body_len = 0  # Content-Length, or bytes of chunk data so far
        self._chunks: list[bytes] = []
        self._chunk_left = 0
        self._continue_sent = False
        self._trailers_from = 0
        self._body_from = 0  # where the current message's body starts in the buffer

    # -- input ------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if not data or self.state is ERROR:
            return
        if not self._buf:
            self._buf = data
        else:
            if type(self._buf) is bytes:  # the second fragment: switch to amortised appends
                self._buf = bytearray(self._buf)
            self._buf += data  # type: ignore[operator]

    @property
    def has_partial_request(self) -> bool:
        """Bytes of an unfinished request are buffered (the header/body deadline runs)."""
        if self.state is ERROR:
            return False
        if self.state is not HEAD:
            return True
        buf = self._buf
        # Stray blank lines between requests do not start one.
        return bool(buf) and (buf[0] not in (10, 13) or bool(buf.strip(b"\r\n")))

    @property
    def reading_head(self) -> bool:
        return self.state is HEAD

    @property
    def body_received(self) -> int:
        """Bytes of the current message after its head (chunk framing included)."""
        return 0 if self.state is HEAD or self.state is ERROR else len(self._buf) - self._body_from

    def feed_eof(self) -> ProtocolError | None:
        """The peer closed its side. An unfinished request is an error worth logging."""
        if self.has_partial_request:
            return self._fail(400, "connection closed in the middle of a request")
        return None

    # -- events -----------------------------------------------------------------------
    def next_event(self) -> Event:
        state = self.state
        if state is HEAD:
            if not self._buf:  # the common case between keep-alive requests
                return NEED_DATA
            event = self._parse_head()
            if event is not None:
                return event
            state = self.state
            if state is HEAD:
                return NEED_DATA
        if state is BODY:
            return self._parse_fixed_body()
        if state is ERROR:
            # The error was returned once, when it happened; a loop that keeps asking
            # must not spin on it. Nothing more comes out of this parser.
            return NEED_DATA
        return self._parse_chunked()

    def _fail(self, status: int, message: str) -> ProtocolError:
        self.state = ERROR
        self._error = ProtocolError(status, message)
        self._buf = b""
        return self._error

    # -- head ---------------------------------------------------------------------------
    def _parse_head(self) -> Event | None:
        buf = self._buf
        # RFC 9112 §2.2: ignore empty lines before a request line (some clients send
        # a stray CRLF after a POST body). Strict: CRLF ones only.
        if buf[0] in (10, 13):  # next_event() only calls this with bytes buffered
            start = 0
            lenient = not self.strict
            while True:
                if buf.startswith(b"\r\n", start):
                    start += 2
                elif lenient and buf.startswith(b"\n", start):
                    start += 1
                else:
                    break
            if start:
                buf = self._buf = buf[start:]
            if not buf:
                return NEED_DATA
        limits = self.limits
        line_end = buf.find(b"\n")
        # Sizes are checked before content so every fragmentation gives the same answer.
        if line_end < 0:
            if len(buf) > limits.max_request_line:
                return self._fail(
                    414, f"request line longer than {limits.max_request_line} bytes: {show(buf)}"
                )
            return NEED_DATA
        if line_end > limits.max_request_line:
            return self._fail(
                414,
                f"request line of {line_end} bytes is longer than {limits.max_request_line}: "
                f"{show(buf[:line_end])}",
            )
        if self.strict:
            head_end = self._strict_head_end(buf, line_end)
            if self._error is not None:
                return self._error
        else:
            head_end = _lenient_head_end(buf, line_end)
        if head_end < 0:
            if len(buf) > limits.max_head:
                return self._fail(
                    431, f"request head longer than {limits.max_head} bytes without a blank line"
                )
            return NEED_DATA
        if head_end > limits.max_head:
            return self._fail(
                431, f"request head of {head_end} bytes is longer than {limits.max_head}"
            )
        head = buf if head_end == len(buf) and type(buf) is bytes else bytes(buf[:head_end])
        return self._parse_complete_head(head, head_end)

    def _strict_head_end(self, buf: bytes | bytearray, line_end: int) -> int:
        """Where a CRLF-only head ends (-1: not yet; -2 after failing on a bare LF in it).

        A bare LF is looked for up to the head's end or ``max_head``, whichever comes
        first, and before any size error: so every fragmentation gives the same answer,
        and a head broken by a bare LF is refused at once rather than timed out.
        """
        if line_end == 0:
            self._fail(400, "bare LF before the request line (strict: CRLF only)")
            return -2
        if buf[line_end - 1] != 13:
            self._fail(
                400, f"request line ends in a bare LF (strict: CRLF only): {show(buf[:line_end])}"
            )
            return -2
        blank = buf.find(b"\r\n\r\n", line_end - 1)
        head_end = blank + 4 if blank >= 0 else -1
        scan_to = min(head_end if head_end >= 0 else len(buf), self.limits.max_head)
        start = line_end + 1
        if buf.count(b"\n", start, scan_to) != buf.count(b"\r\n", start, scan_to):
            nl = buf.find(b"\n", start, scan_to)
            while buf[nl - 1] == 13:
                nl = buf.find(b"\n", nl + 1, scan_to)
            line_start = buf.rfind(b"\n", 0, nl) + 1
            self._fail(
                400,
                f"bare LF in a CRLF head (strict: CRLF only, no mixed line endings): "
                f"{show(buf[line_start : nl + 1])}",
            )
            return -2
        return head_end

    def _parse_complete_head(self, head: bytes, head_end: int) -> Event | None:
        first_nl = head.find(b"\n")
        request_line = head[:first_nl]
        if request_line[-1:] == b"\r":
            request_line = request_line[:-1]
        # One regex for a well-formed request line; only a bad one is taken apart to say why.
        line_match = _REQUEST_LINE_RE.fullmatch(request_line)
        if line_match is None:
            return self._fail(*_explain_bad_request_line(request_line))
        method_b, target_b, major, minor = line_match.groups()
        if major != b"1":
            return self._fail(
                505, f"HTTP/{major.decode()}.{minor.decode()} is not supported, use HTTP/1.1"
            )
        # RFC 9110 §2.5: a higher minor version is answered as the highest we speak.
        version = "HTTP/1.0" if minor == b"0" else "HTTP/1.1"

        # The header lines, each ending in \n, without the final blank line. Latin-1 maps
        # bytes to characters one to one, so the str regexes see exactly the bytes.
        block = head[first_nl + 1 : -2 if head.endswith(b"\n\r\n") else -1].decode("latin-1")
        count = block.count("\n")
        if count > self.limits.max_headers:
            return self._fail(431, f"{count} header lines, more than {self.limits.max_headers}")
        # Two passes in C over the whole block: validate, then extract. Only a bad block
        # is walked line by line in Python, to name the offending line.
        if _HEADER_BLOCK_RE.fullmatch(block) is None:
            return self._fail(400, _explain_bad_block(block))
        headers = [(name.lower(), value) for name, value in _HEADER_LINE_RE.findall(block)]
        return self._start_body(
            method_b.decode("ascii"), target_b.decode("ascii"), version, headers, head_end
        )

    def _start_body(
        self, method: str, target: str, version: str, headers: list[tuple[str, str]], head_end: int
    ) -> Event | None:
        hosts: list[str] = []
        lengths: list[str] = []
        codings: list[str] = []
        te_seen = False
        connection: list[str] = []
        expect = None
        strict = self.strict
        for name, value in headers:
            if name == "host":
                hosts.append(value)
            elif name == "content-length":
                if strict and _OBS_TEXT_RE.search(value):
                    return self._fail(400, f"obs-text in Content-Length: {show_text(value)}")
                lengths += [v.strip(OWS) for v in value.split(",")]
            elif name == "transfer-encoding":
                if strict and _OBS_TEXT_RE.search(value):
                    return self._fail(400, f"obs-text in Transfer-Encoding: {show_text(value)}")
                te_seen = True  # even empty: it is there, so the framing is in doubt
                codings += [c for v in value.split(",") if (c := v.strip(OWS).lower())]
            elif name == "connection":
                connection += [v.strip(OWS).lower() for v in value.split(",")]
            elif name == "expect":
                expect = value.lower()
        if len(hosts) > 1:
            return self._fail(400, f"{len(hosts)} Host headers; a request has exactly one")
        if not hosts:
            if version == "HTTP/1.1":
                return self._fail(400, "HTTP/1.1 request without a Host header")
        elif _HOST_RE.fullmatch(hosts[0]) is None:
            return self._fail(400, f"Host is not host[:port]: {show_text(hosts[0])}")

        # RFC 9112 §6: framing rules, the classic request-smuggling guards.
        chunked = False
        length = 0
        if te_seen and lengths:
            return self._fail(400, "both Transfer-Encoding and Content-Length; send only one")
        if te_seen:
            unknown = [c for c in codings if c.split(";")[0].strip(OWS) not in KNOWN_CODINGS]
            if unknown:
                return self._fail(501, f"unknown transfer coding {unknown[0]!r}")
            if not codings or codings[-1] != "chunked" or codings.count("chunked") > 1:
                return self._fail(
                    400, f"Transfer-Encoding {', '.join(codings)!r}: chunked must be last, once"
                )
            if len(codings) > 1:
                return self._fail(501, f"transfer coding {codings[0]!r} is not implemented")
            chunked = True
        elif lengths:
            if len(set(lengths)) > 1:
                return self._fail(400, f"conflicting Content-Length values {', '.join(lengths)}")
            if _DIGITS_RE.fullmatch(lengths[0].encode("latin-1")) is None:
                return self._fail(400, f"Content-Length is not a number: {lengths[0]!r}")
            length = int(lengths[0])
            if length > self.limits.max_body:
                return self._fail(
                    413, f"body of {length} bytes is larger than {self.limits.max_body}"
                )

        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
            # framing; it is processed, then the connection is closed.
            keep_alive = "keep-alive" in connection and "close" not in connection and not te_seen
        self._head = (method, target, version, headers, keep_alive)
        self._pos = self._body_from = head_end
        self._continue_sent = not (expect == "100-continue" and version == "HTTP/1.1")
        if chunked:
            self.state = CHUNK_SIZE
        elif length == 0:  # the fast path: most requests end with their head
            return self._complete(b"", head_end)
        else:
            self._body_len = length
            self.state = BODY
        return None

    # -- bodies -------------------------------------------------------------------------
    def _continue_event(self) -> ExpectContinue | None:
        """Once per request, before waiting for a body that the client holds back."""
        if self._continue_sent:
            return None
        self._continue_sent = True
        return ExpectContinue()

    def _parse_fixed_body(self) -> Event:
        end = self._pos + self._body_len
        buf = self._buf
        if len(buf) < end:
            return self._continue_event() or NEED_DATA
        body = bytes(buf[self._pos : end])
        return self._complete(body, end)

    def _line_at(self, nl: int, pos: int, what: str) -> bytes | None:
        """The line ``buf[pos:nl]`` without its CR; None (after failing) on a bare LF in
        strict mode. Lenient takes LF or CRLF, the same everywhere in the body."""
        line = bytes(self._buf[pos : nl + 1])
        if line.endswith(b"\r\n"):
            return line[:-2]
        if self.strict:
            self._fail(400, f"{what} ends in a bare LF (strict: CRLF only): {show(line)}")
            return None
        return line[:-1]

    def _parse_chunked(self) -> Event:
        limits = self.limits
        while True:
            buf = self._buf
            pos = self._pos
            if self.state is CHUNK_SIZE:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if len(buf) - pos > MAX_CHUNK_LINE:
                        return self._fail(400, f"chunk size line too long: {show(buf[pos:])}")
                    return self._continue_event() or NEED_DATA
                if nl - pos > MAX_CHUNK_LINE:
                    return self._fail(400, f"chunk size line too long: {show(buf[pos:nl])}")
                line = self._line_at(nl, pos, "chunk size line")
                if line is None:
                    return self._error  # type: ignore[return-value]
                match = self._chunk_size_re.fullmatch(line)
                if match is None:
                    return self._fail(400, _explain_bad_chunk_line(line, self.strict))
                size = int(match.group(1), 16)
                if self._body_len + size > limits.max_body:
                    return self._fail(413, f"chunked body grows past {limits.max_body} bytes")
                self._pos = nl + 1
                if size == 0:
                    self._trailers_from = nl + 1
                    self.state = TRAILERS
                else:
                    self._chunk_left = size
                    self.state = CHUNK_DATA
            elif self.state is CHUNK_DATA:
                end = pos + self._chunk_left
                if len(buf) < end + 1:
                    return NEED_DATA
                after = buf[end]
                if after == 13:  # CR: its LF must follow
                    if len(buf) < end + 2:
                        return NEED_DATA
                    if buf[end + 1] != 10:
                        return self._fail(
                            400, f"chunk data not followed by CRLF: {show(buf[end : end + 2])}"
                        )
                    next_pos = end + 2
                elif after == 10 and not self.strict:
                    next_pos = end + 1
                else:
                    return self._fail(
                        400, f"chunk data not followed by CRLF: {show(buf[end : end + 2])}"
                    )
                self._chunks.append(bytes(buf[pos:end]))
                self._body_len += self._chunk_left
                self._pos = next_pos
                self.state = CHUNK_SIZE
            else:  # TRAILERS: header-like lines until a blank one; read and dropped
                nl = buf.find(b"\n", pos)
                # Measured to the line break, so any fragmentation gives the same answer.
                if (nl if nl >= 0 else len(buf)) - self._trailers_from > limits.max_head:
                    return self._fail(431, f"trailer section longer than {limits.max_head} bytes")
                if nl < 0:
                    return NEED_DATA
                line = self._line_at(nl, pos, "trailer line")
                if line is None:
                    return self._error  # type: ignore[return-value]
                self._pos = nl + 1
                if not line:
                    return self._complete(b"".join(self._chunks), nl + 1)
                if _TRAILER_RE.fullmatch(line) is None:
                    if _HEADER_NAME_RE.match(line) is not None:
                        return self._fail(400, f"trailer value has a control byte: {show(line)}")
                    return self._fail(400, "bad trailer line: " + _explain_bad_header(line))

    def _complete(self, body: bytes, end: int) -> Request:
        assert self._head is not None
        method, target, version, headers, keep_alive = self._head
        buf = self._buf
        if end == len(buf) and type(buf) is bytes:  # the usual case: one request per recv()
            raw = buf
            self._buf = b""
        else:
            raw = bytes(buf[:end])
            self._buf = buf[end:]
        self.state = HEAD
        self._reset_message()
        return Request(method, target, version, headers, body, raw, keep_alive)  # type: ignore[arg-type]


def _lenient_head_end(buf: bytes | bytearray, line_end: int) -> int:
    """Where a head ends if a bare LF may end any line (-1: not yet). Both forms of blank
    line start with the request line's LF or a later one."""
    blank = buf.find(b"\n\r\n", line_end)
    if blank >= 0:
        lf = buf.find(b"\n\n", line_end, blank + 1)
        return lf + 2 if lf >= 0 else blank + 3
    lf = buf.find(b"\n\n", line_end)
    return lf + 2 if lf >= 0 else -1


def _explain_bad_chunk_line(line: bytes, strict: bool) -> str:
    """Say which rule of RFC 9112 §7.1 a chunk size line broke, naming its bytes."""
    size = re.match(rb"[0-9A-Fa-f]*", line)
    digits = size.end() if size else 0
    if digits == 0 or digits > 16:
        return f"bad chunk size line: {show(line)}"
    rest = line[digits:]
    if strict and rest.strip(b" \t") == b"":
        return f"whitespace after the chunk size (strict): {show(line)}"
    if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", rest):
        return f"chunk extension has a control byte: {show(line)}"
    return f"chunk extension is not ;name[=token or quoted-string] (RFC 9112 §7.1.1): {show(line)}"


def _explain_bad_request_line(line: bytes) -> tuple[int, str]:
    """Status and reason for a request line that is not ``token SP target SP HTTP/d.d``."""
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        return 400, f"request line is not 'METHOD SP target SP version': {show(line)}"
    method, target, version = parts
    if _TOKEN_RE.fullmatch(method) is None:
        return 400, f"method is not a token: {show(method)}"
    if _TARGET_RE.fullmatch(target) is None:
        return 400, f"request target has a byte that is not allowed: {show(target)}"
    return 400, f"not an HTTP version: {show(version)}"


def _explain_bad_block(block: str) -> str:
    """Find the header line that broke the rules and say how."""
    for text in block.split("\n")[:-1]:
        line = text.encode("latin-1")
        if line[-1:] == b"\r":
            line = line[:-1]
        if _HEADER_LINE_RE.fullmatch(text + "\n") is None:
            if _HEADER_NAME_RE.match(line) is not None:
                return f"header value has a control byte: {show(line)}"
            return _explain_bad_header(line)
    return f"malformed header section: {show(block.encode('latin-1'))}"


def _explain_bad_header(line: bytes) -> str:
    """Say which rule a header line broke, naming its bytes."""
    if line[:1] in (b" ", b"\t"):
        return f"obs-fold (a header line starting with whitespace) is not allowed: {show(line)}"
    name, colon, _ = line.partition(b":")
    if not colon:
        return f"header line without a colon: {show(line)}"
    if name != name.rstrip(b" \t"):
        return f"whitespace before the colon in header line: {show(line)}"
    if not name:
        return f"empty header name: {show(line)}"
    return f"header name is not a token: {show(line)}"
