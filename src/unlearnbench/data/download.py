"""Checksummed file fetching: a local copy, a mirror folder or a URL, never an unverified byte.

Every file is streamed to a temporary sibling, its md5 computed on the way, and only renamed
into place when the checksum matches. A killed download or a wrong mirror therefore never
leaves a file that a later run would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnbench import __version__
from unlearnbench.storage import atomic_path

CHUNK_BYTES = 1 << 20
DEFAULT_TIMEOUT_S = 60.0
OFFLINE_ENV = "UNLEARNBENCH_OFFLINE"
_ALLOWED_SCHEMES = ("http", "https", "file")


class DatasetUnavailableError(RuntimeError):
    """A required file is absent and could not be obtained (offline, unreachable, missing on a mirror)."""


class ChecksumMismatchError(RuntimeError):
    """A file exists or was received, but its md5 is not the one the dataset pins."""


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file, read in chunks so that large archives do not fill memory."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def offline() -> bool:
    """True when the environment forbids downloads (``UNLEARNBENCH_OFFLINE=1``), e.g. on CI."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def file_url(base: str, filename: str) -> str:
    """The URL of ``filename``: a base ending in ``/`` gets the name appended, any other URL is used as is."""
    return base + filename if base.endswith("/") else base


def fetch_file(
    filename: str, urls: Sequence[str], md5: str, folder: str | os.PathLike[str], **options: Any
) -> Path:
    """Return ``folder/filename`` with md5 ``md5``, fetching it from the first URL that serves it.

    ``urls`` are tried in order; each is a base ending in ``/`` (the file name is appended)
    or the file's full URL. ``file://`` URLs make a local mirror folder just another source.
    A file already in ``folder`` is verified, never silently replaced: a mismatch raises
    :class:`ChecksumMismatchError` so that a user-placed file is not deleted behind their back.

    Raises :class:`DatasetUnavailableError` (naming the file, the URLs, the md5 and the folder)
    when no source delivers the file, and :class:`ChecksumMismatchError` when a source served
    bytes with another md5 and no other source served the right ones. ``options`` are those of
    :func:`fetch_file_from` (``allow_download``, ``timeout``), which also says where the file came from.
    """
    return fetch_file_from(filename, urls, md5, folder, **options)[0]


def fetch_file_from(
    filename: str,
    urls: Sequence[str],
    md5: str,
    folder: str | os.PathLike[str],
    *,
    allow_download: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[Path, str]:
    """:func:`fetch_file`, also returning where the file came from (its URL, or the local path)."""
    folder = Path(folder)
    target = folder / filename
    md5 = md5.lower()
    if target.exists():
        actual = md5sum(target)
        if actual != md5:
            raise ChecksumMismatchError(
                f"{target} has md5 {actual} but {filename} must have md5 {md5}. The file is damaged or "
                f"is a different version: delete it and run the preparation again to fetch it."
            )
        return target, str(target)

    sources = [file_url(url, filename) for url in urls]
    if not allow_download or not sources:
        reason = "downloads are disabled" if not allow_download else "no source URL is configured"
        raise DatasetUnavailableError(_unavailable_message(filename, sources, md5, folder, [reason]))

    failures: list[str] = []
    mismatches: list[str] = []
    for url in sources:
        try:
            _download(url, target, md5, timeout)
        except _WrongChecksum as exc:
            mismatches.append(f"{url} served md5 {exc.actual}")
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            return target, url
    if mismatches:
        raise ChecksumMismatchError(
            f"no source delivered {filename} with md5 {md5}: "
            + "; ".join(mismatches + failures)
            + f". Put a verified copy in {folder}/ or fix the mirror."
        )
    raise DatasetUnavailableError(_unavailable_message(filename, sources, md5, folder, failures))


class _WrongChecksum(Exception):
    def __init__(self, actual: str) -> None:
        super().__init__(actual)
        self.actual = actual


def _download(url: str, target: Path, md5: str, timeout: float) -> None:
    """Stream ``url`` into a temporary sibling of ``target``; rename it only if the md5 matches."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _ALLOWED_SCHEMES:
        raise ValueError(f"unsupported URL scheme {scheme!r} (use one of {', '.join(_ALLOWED_SCHEMES)})")
    request = urllib.request.Request(url, headers={"User-Agent": f"unlearnbench/{__version__}"})
    digest = hashlib.md5(usedforsecurity=False)
    with atomic_path(target) as tmp:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != md5:
            raise _WrongChecksum(actual)  # atomic_path removes the temporary file


def _unavailable_message(
    filename: str, sources: Sequence[str], md5: str, folder: Path, failures: Sequence[str]
) -> str:
    where = " or ".join(sources) if sources else "(no URL known)"
    tried = "; ".join(failures)
    return (
        f"{filename} is not available ({tried}). Download it from {where} (md5 {md5}) "
        f"and put it in the folder {folder}/"
    )


@dataclass(frozen=True)
class FileSources:
    """Where a dataset kind's files may come from, read from its ``mirror``, ``urls``, ``download``
    and ``timeout`` settings. :meth:`obtain` tries, in this order, the copy already in the raw
    folder (verified, never replaced), a local mirror folder, then the URLs (unless downloads are
    off), so every kind that downloads follows one policy and reports misses the same way.
    Only :meth:`download` raises :class:`DatasetUnavailableError` for a file nobody serves.
    """

    urls: list[str]
    allow_download: bool
    timeout: float
    mirror: Path | None

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], default_urls: Sequence[str], dataset: str
    ) -> FileSources:
        urls = settings.get("urls", default_urls)
        urls = [urls] if isinstance(urls, str) else list(urls)
        allow_download = bool(settings.get("download", True)) and not offline()
        timeout = float(settings.get("timeout", DEFAULT_TIMEOUT_S))
        mirror = Path(settings["mirror"]).expanduser().resolve() if settings.get("mirror") else None
        if mirror is not None and not mirror.is_dir():
            raise DatasetUnavailableError(f"the configured {dataset} mirror folder {mirror} does not exist")
        return cls(urls, allow_download, timeout, mirror)

    def present(self, filename: str, md5: str, raw: Path) -> tuple[Path, str] | None:
        """``raw/filename`` (md5 verified) and where it came from, when the raw folder or the mirror
        holds it; ``None`` when it has to be downloaded."""
        target = raw / filename
        if target.exists():
            return fetch_file(filename, [], md5, raw), str(target)  # verifies the md5
        if self.mirror is not None and (self.mirror / filename).is_file():
            return fetch_file(filename, [self.mirror.as_uri() + "/"], md5, raw), str(self.mirror / filename)
        return None

    def download(self, filename: str, md5: str, raw: Path) -> tuple[Path, str]:
        """``raw/filename`` fetched from the first URL that serves it, and that URL."""
        return fetch_file_from(
            filename, self.urls, md5, raw, allow_download=self.allow_download, timeout=self.timeout
        )

    def where_looked(self, raw: Path) -> str:
        """``(looked in ...).`` and, when downloads are off, why: the middle of a missing-file error."""
        looked = f"{raw}/" + (f" and the mirror folder {self.mirror}/" if self.mirror else "")
        offline_note = (
            ""
            if self.allow_download
            else " Downloads are disabled (download: false or UNLEARNBENCH_OFFLINE)."
        )
        return f"(looked in {looked}).{offline_note}"
