"""The gRPC gateway in front of a real ``bentoml serve``: align, errors, info, health."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from _service_utils import grpc_gateway
from _synth_utils import make_synthetic_song, write_song

from lyricalign.service.clients import GRPCClient
from lyricalign.service.grpc_gen import lyricalign_pb2 as pb
from lyricalign.service.grpc_gen import lyricalign_pb2_grpc as pb_grpc
from lyricalign.service.grpc_server import from_proto

pytestmark = pytest.mark.slow  # every test talks to the real bentoml serve behind the gateway


@pytest.fixture(scope="module")
def gateway(live_service, tmp_path_factory):  # noqa: ANN001, ANN201
    with grpc_gateway(live_service.url, tmp_path_factory.mktemp("grpc")) as target:
        yield target


@pytest.fixture(scope="module")
def song(tmp_path_factory):  # noqa: ANN001, ANN201
    song = make_synthetic_song([["hello", "world"], ["sing", "along", "now"]], "en", seed=1)
    return song, write_song(song, tmp_path_factory.mktemp("song") / "song.wav")


def test_health_is_serving(gateway: str) -> None:
    with grpc.insecure_channel(gateway) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "lyricalign.v1.Aligner"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("method", ["ctc", "hmm"])
def test_align_over_grpc(gateway: str, song, method: str) -> None:  # noqa: ANN001
    synthetic, path = song
    with GRPCClient(gateway) as client:
        result = client.align(path, synthetic.lyrics_text, method=method, media_type="audio/wav")
    assert [w.text for w in result.words] == synthetic.lyrics_text.split()
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= result.duration for w in result.words)
    assert result.method == method and [ln.text for ln in result.lines] == synthetic.lyrics_text.splitlines()


def test_align_renders_requested_format(gateway: str, song) -> None:  # noqa: ANN001
    synthetic, path = song
    with grpc.insecure_channel(gateway) as channel:
        reply = pb_grpc.AlignerStub(channel).Align(
            pb.AlignRequest(audio=path.read_bytes(), lyrics=synthetic.lyrics_text, method="uniform", format="srt"),
            timeout=60,
        )
    assert "-->" in reply.rendered and len(reply.words) == 5
    # uniform has no confidences: unset on the wire, None again on the client side, 0 only where interpolated
    assert all(w.HasField("confidence") == w.interpolated for w in reply.words)
    assert all(w.confidence is None for w in from_proto(reply).words if not w.interpolated)


@pytest.mark.parametrize(
    ("audio", "lyrics", "method", "code", "message"),
    [
        (b"not audio" * 10, "hello", "uniform", grpc.StatusCode.INVALID_ARGUMENT, "not a decodable audio file"),
        (None, "  ", "uniform", grpc.StatusCode.INVALID_ARGUMENT, "lyrics are empty"),
        (None, "hello", "magic", grpc.StatusCode.INVALID_ARGUMENT, "unknown method"),
        (b"\0" * (3 * 1024 * 1024), "hello", "uniform", grpc.StatusCode.RESOURCE_EXHAUSTED, "over the limit"),
        (None, "hello\x00world", "uniform", grpc.StatusCode.INVALID_ARGUMENT, "NUL byte"),
    ],
)
def test_errors_map_to_grpc_codes(gateway: str, song, audio, lyrics, method, code, message) -> None:  # noqa: ANN001
    _, path = song
    with GRPCClient(gateway) as client:
        with pytest.raises(grpc.RpcError) as info:
            client.align(audio if audio is not None else path.read_bytes(), lyrics, method=method)
        assert info.value.code() == code and message in info.value.details()
        assert client.info()["ctc_model"]["trained"] is False  # still answering


@pytest.mark.parametrize(("fields", "message"), [
    ({"format": "pdf"}, "unknown format 'pdf'"),
    ({"method": "magic"}, "unknown method 'magic'"),
    ({"language": "klingon"}, "unsupported language"),
    ({"media_type": "text/plain"}, "unsupported audio media type"),
])
def test_every_parameter_is_validated_before_any_work(gateway: str, fields, message: str) -> None:  # noqa: ANN001
    """Issue 9.8: ``format`` was checked only after aligning (17 s of work before INVALID_ARGUMENT). The
    audio here is undecodable, so an answer about it would mean the audio was sent and decoded first."""
    request = pb.AlignRequest(audio=b"not audio at all" * 100, lyrics="hello world",
                              **{"method": "uniform", **fields})
    with grpc.insecure_channel(gateway) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.AlignerStub(channel).Align(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in info.value.details()
