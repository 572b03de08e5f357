"""The REST client against a hostile or broken server (or anything in the middle):
bounded reads, same-origin redirects only, the one bounded JSON decoder, and answers
checked for shape before the poller and the backfill take them apart."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ingest import contract
from ingest.mempool_api import MAX_BODY_BYTES, ApiError, MempoolApi, Retryable, same_origin
from ingest.poller import Poller, PollOptions
from tests.fakes import MemoryS3

DEEP = ("[" * 1_100 + "]" * 1_100).encode()
JSON = {"Content-Type": "application/json"}


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    body: bytes = b"{}"
    raw: bytes | None = None  # written as is, instead of a well-formed answer


class ScriptedServer:
    """An HTTP(S) server on loopback answering each path as scripted."""

    def __init__(self, answers: dict[str, Answer], tls: ssl.SSLContext | None = None) -> None:
        self.answers = answers
        self.requested: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requested.append(self.path)
                answer = outer.answers.get(self.path, Answer(404, {}, b""))
                if answer.raw is not None:
                    self.wfile.write(answer.raw)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that stops reading early breaks the pipe: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(answers: dict[str, Answer], tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(answers, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def api_for(server: ScriptedServer, scheme: str = "http") -> MempoolApi:
    return MempoolApi(f"{scheme}://127.0.0.1:{server.port}/api", timeout_s=5)


def test_a_redirect_to_another_host_is_refused(serve: Callable[..., ScriptedServer]) -> None:
    """urllib followed any redirect; the answer came from wherever it pointed."""
    server = serve({"/api/v1/prices": Answer(302, {"Location": ""})})
    server.answers["/api/v1/prices"].headers["Location"] = (
        f"http://localhost:{server.port}/elsewhere"
    )
    server.answers["/elsewhere"] = Answer(body=b'{"USD": 1}')
    with pytest.raises(ApiError, match="redirect 302 to another origin refused") as refused:
        api_for(server).prices()
    assert not isinstance(refused.value, Retryable)
    assert server.requested == ["/api/v1/prices"]


def test_a_redirect_from_https_to_http_is_refused(
    serve: Callable[..., ScriptedServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https to http put the answer (and anything the request carried) in clear."""
    tls, ca_file = loopback_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    plain = serve({"/api/v1/prices": Answer(body=b'{"USD": 1}')})
    secure = serve(
        {
            "/api/v1/prices": Answer(
                301, {"Location": f"http://127.0.0.1:{plain.port}/api/v1/prices"}
            ),
            "/api/v1/fees/recommended": Answer(body=b'{"fastestFee": 3}'),
        },
        tls,
    )
    api = api_for(secure, "https")
    assert api.fees_recommended() == {"fastestFee": 3}  # the TLS setup itself works
    with pytest.raises(ApiError, match="redirect 301 to another origin refused"):
        api.prices()
    assert plain.requested == []


def test_a_redirect_within_the_origin_is_followed(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(
        {
            "/api/mempool": Answer(308, {"Location": "/api/mempool/"}),
            "/api/mempool/": Answer(body=b'{"count": 4}'),
        }
    )
    assert api_for(server).mempool() == {"count": 4}


def test_origins_compare_scheme_host_and_port() -> None:
    assert same_origin("https://mempool.space/api/x", "https://mempool.space:443/api/y")
    assert same_origin("http://127.0.0.1:8080/a", "HTTP://127.0.0.1:8080/b")
    assert not same_origin("https://mempool.space/api", "http://mempool.space/api")
    assert not same_origin("https://mempool.space/api", "https://evil.example/api")
    assert not same_origin("https://mempool.space/api", "https://mempool.space:8443/api")
    assert not same_origin("https://mempool.space/api", "https://mempool.space:99999/api")
    assert not same_origin("https://mempool.space/api", "file:///etc/passwd")


def too_big(with_length: bool) -> Answer:
    body = b"[" + b"0," * (MAX_BODY_BYTES // 2) + b"0]"
    headers = dict(JSON)
    if with_length:
        headers["Content-Length"] = str(len(body))
    return Answer(headers=headers, body=body)


@pytest.mark.parametrize("with_length", [True, False], ids=["declared", "undeclared"])
def test_an_answer_above_the_limit_is_refused(
    serve: Callable[..., ScriptedServer], with_length: bool
) -> None:
    """Bodies were read whole, whatever their size (and parsed: up to ~35 times that)."""
    server = serve({"/api/v1/prices": too_big(with_length)})
    with pytest.raises(ApiError, match=f"above the limit of {MAX_BODY_BYTES} bytes") as refused:
        api_for(server).prices()
    assert not isinstance(refused.value, Retryable)


def test_deeply_nested_json_is_an_api_error(serve: Callable[..., ScriptedServer]) -> None:
    """json.loads raised RecursionError, which the poller did not catch: the run died."""
    server = serve({"/api/v1/prices": Answer(body=DEEP)})
    with pytest.raises(ApiError, match="nested deeper than 64 levels"):
        api_for(server).prices()


def test_a_broken_status_line_is_retryable(serve: Callable[..., ScriptedServer]) -> None:
    """http.client's own errors (BadStatusLine, IncompleteRead) are not OSErrors: they
    went past every handler."""
    server = serve({"/api/v1/prices": Answer(raw=b"NOT HTTP AT ALL\r\n\r\n")})
    with pytest.raises(Retryable, match="BadStatusLine"):
        api_for(server).prices()


class CannedApi(MempoolApi):
    """The client with its network replaced by canned answers, per path."""

    def __init__(self, answers: dict[str, bytes], content_type: str = "application/json"):
        super().__init__("https://mempool.invalid/api")
        object.__setattr__(self, "answers", answers)
        object.__setattr__(self, "content_type", content_type)

    def _get(
        self, path: str, params: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> tuple[bytes, str]:
        answers: dict[str, bytes] = self.answers  # type: ignore[attr-defined]
        return answers.get(path, b"{}"), self.content_type  # type: ignore[attr-defined]


GOOD_ID = "ab" * 32


@pytest.mark.parametrize(
    "page",
    [
        {"height": 1, "id": GOOD_ID},
        [{"height": "1", "id": GOOD_ID}],
        [{"height": True, "id": GOOD_ID}],
        [{"height": -1, "id": GOOD_ID}],
        [{"height": 1}],
        [{"height": 1, "id": "../../v1/prices?x="}],
        [{"height": 1, "id": GOOD_ID.upper()}],
        [7],
    ],
    ids=[
        "object",
        "string-height",
        "bool-height",
        "negative",
        "no-id",
        "path-id",
        "upper-id",
        "number",
    ],
)
def test_a_page_that_is_not_blocks_is_an_api_error(page: Any) -> None:
    """The poller keys its state on height and id and puts the id in a request path:
    these raised KeyError or TypeError in the poller, or made it request another path."""
    api = CannedApi({"/v1/blocks": json.dumps(page).encode()})
    with pytest.raises(ApiError, match="expected a list of blocks"):
        api.blocks()


@pytest.mark.parametrize(
    ("body", "call"),
    [
        (b"\xff\xfe", "tip_height"),
        ("\u00b2".encode(), "tip_height"),
        (b"9" * 40, "tip_height"),
        (b"[1, 2]", "txids"),
        (b"[]", "historical_price"),
    ],
    ids=["invalid-utf8", "superscript-digit", "40-digits", "number-txids", "list-price"],
)
def test_other_answers_of_the_wrong_type_are_api_errors(body: bytes, call: str) -> None:
    """UnicodeDecodeError, int('²') and `**list` in the backfill were not ApiErrors."""
    api = CannedApi({"/blocks/tip/height": body, f"/block/{GOOD_ID}/txids": body})
    api.answers["/v1/historical-price"] = body  # type: ignore[attr-defined]
    calls: dict[str, Callable[[], Any]] = {
        "tip_height": api.tip_height,
        "txids": lambda: api.block_txids(GOOD_ID),
        "historical_price": lambda: api.historical_price("USD", 0),
    }
    with pytest.raises(ApiError):
        calls[call]()


def test_a_poll_run_survives_deeply_nested_json_and_writes_the_rest() -> None:
    """The poller had the streamer's gap: the RecursionError ended the Lambda's run."""
    page = [{"id": f"{h:064x}", "height": h} for h in range(900_019, 900_004, -1)]
    api = CannedApi(
        {
            "/v1/blocks": json.dumps(page).encode(),
            "/v1/prices": DEEP,
            "/v1/fees/recommended": b'{"fastestFee": 3}',
            "/mempool": b'{"count": 4}',
            **{f"/block/{b['id']}/txids": b'["aa"]' for b in page},
        }
    )
    s3 = MemoryS3()
    result = Poller(api, s3, "bucket", "state/poller.json", PollOptions(lookback_blocks=15)).run()
    assert result.skipped == ["prices"] and result.advanced
    topics = sorted({r.topic for body in s3.objects.values() for r in parsed(body)} - {"state"})
    assert topics == ["block", "block-txids", "fees", "mempool"]


def parsed(body: bytes) -> list[contract.Record]:
    try:
        return list(contract.iter_ndjson(body))
    except contract.ContractError:
        return []  # the state object


def loopback_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1, and a server context serving it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
