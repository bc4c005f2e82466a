"""Checksummed downloads, exercised against a local HTTP server (no internet needed)."""

from __future__ import annotations

import hashlib

import pytest
from fixtures.writers import serve_folder

from unlearnbench.data import ChecksumMismatchError, DatasetUnavailableError, fetch_file, md5sum
from unlearnbench.data.download import FileSources, fetch_file_from

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: nothing listens there


@pytest.fixture
def http_folder(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL ending in /)."""
    served = tmp_path / "served"
    served.mkdir()
    with serve_folder(served) as base:
        yield served, base


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_md5sum_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000  # spans several read chunks
    (tmp_path / "f").write_bytes(data)
    assert md5sum(tmp_path / "f") == _md5(data)


def test_download_verifies_and_falls_back_to_next_url(tmp_path, http_folder):
    served, base = http_folder
    payload = b"idx payload" * 1000
    (served / "file.gz").write_bytes(payload)
    target = tmp_path / "raw"
    path, source = fetch_file_from("file.gz", [UNREACHABLE, base + "missing/", base], _md5(payload), target)
    assert path == target / "file.gz" and path.read_bytes() == payload
    assert source == base + "file.gz"
    assert sorted(p.name for p in target.iterdir()) == ["file.gz"]  # no temporary files left behind
    # a second call finds the verified file and needs no source at all
    assert fetch_file("file.gz", [], _md5(payload), target) == path


def test_full_file_urls_are_used_as_given(tmp_path, http_folder):
    served, base = http_folder
    (served / "other-name.bin").write_bytes(b"abc")
    path = fetch_file("wanted.bin", [base + "other-name.bin"], _md5(b"abc"), tmp_path)
    assert path.name == "wanted.bin" and path.read_bytes() == b"abc"


def test_wrong_checksum_from_server_leaves_nothing(tmp_path, http_folder):
    served, base = http_folder
    (served / "file.gz").write_bytes(b"tampered")
    target = tmp_path / "raw"
    with pytest.raises(ChecksumMismatchError) as info:
        fetch_file("file.gz", [base], _md5(b"genuine"), target)
    message = str(info.value)
    assert "file.gz" in message and _md5(b"genuine") in message and _md5(b"tampered") in message
    assert not target.exists() or list(target.iterdir()) == []


def test_existing_file_with_wrong_checksum_is_kept_and_reported(tmp_path):
    (tmp_path / "file.gz").write_bytes(b"user copy")
    with pytest.raises(ChecksumMismatchError, match="delete it"):
        fetch_file("file.gz", [UNREACHABLE], _md5(b"other"), tmp_path)
    assert (tmp_path / "file.gz").read_bytes() == b"user copy"


def test_unreachable_url_names_file_url_md5_and_folder(tmp_path):
    target = tmp_path / "data" / "mnist" / "raw"
    md5 = _md5(b"x")
    with pytest.raises(DatasetUnavailableError) as info:
        fetch_file("t10k-labels-idx1-ubyte.gz", [UNREACHABLE], md5, target, timeout=5)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert UNREACHABLE + "t10k-labels-idx1-ubyte.gz" in message
    assert md5 in message and str(target) in message


def test_downloads_disabled_never_touch_the_network(tmp_path, http_folder):
    served, base = http_folder
    (served / "f").write_bytes(b"x")
    with pytest.raises(DatasetUnavailableError, match="downloads are disabled"):
        fetch_file("f", [base], _md5(b"x"), tmp_path, allow_download=False)
    assert not (tmp_path / "f").exists()


def test_file_urls_act_as_a_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "f.gz").write_bytes(b"mirrored")
    path = fetch_file("f.gz", [mirror.as_uri() + "/"], _md5(b"mirrored"), tmp_path / "raw")
    assert path.read_bytes() == b"mirrored"


def test_unsupported_scheme_is_reported(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="unsupported URL scheme 'ftp'"):
        fetch_file("f", ["ftp://example.invalid/"], _md5(b"x"), tmp_path)


def test_file_sources_raw_folder_then_mirror_then_urls(tmp_path, monkeypatch):
    monkeypatch.delenv("UNLEARNBENCH_OFFLINE", raising=False)
    with pytest.raises(DatasetUnavailableError, match="the configured MNIST mirror folder .* does not exist"):
        FileSources.from_settings({"mirror": str(tmp_path / "nowhere")}, [UNREACHABLE], "MNIST")
    mirror, raw = tmp_path / "mirror", tmp_path / "raw"
    mirror.mkdir()
    (mirror / "a.bin").write_bytes(b"abc")
    md5 = md5sum(mirror / "a.bin")
    sources = FileSources.from_settings({"mirror": str(mirror), "urls": UNREACHABLE}, ["unused"], "X")
    assert sources.urls == [UNREACHABLE] and sources.allow_download
    assert sources.present("a.bin", md5, raw) == (raw / "a.bin", str(mirror / "a.bin"))
    assert sources.present("a.bin", md5, raw) == (raw / "a.bin", str(raw / "a.bin"))  # now in raw
    assert sources.present("b.bin", md5, raw) is None
    offline = FileSources.from_settings({"download": False}, [UNREACHABLE], "X")
    assert offline.where_looked(raw) == (
        f"(looked in {raw}/). Downloads are disabled (download: false or UNLEARNBENCH_OFFLINE)."
    )
    assert sources.where_looked(raw) == f"(looked in {raw}/ and the mirror folder {mirror.resolve()}/)."
