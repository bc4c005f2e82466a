"""The ``identity-folders-standin`` kind (built-in dataset ``faces-standin``): generated faces on disk.

The VGGFace images cannot be downloaded offline (they are reconstructed from a URL list),
so the quick profile draws cartoon faces and writes them as JPEG files in the layout the
real loader reads, ``images/<identity>/<k>.jpg``; :mod:`unlearnbench.data.identity_folders`
then reads them exactly as it reads real identity folders. It is a STAND-IN, labelled so
everywhere.

Each identity has its own face shape, skin tone, hair colour and hairline, eye spacing,
height and colour, brows and mouth; each image draws its own pose (shift, scale, small
rotation), lighting, background and noise, so identities are learnable but images of one
identity are not copies of each other.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from unlearnbench.data import identity_folders
from unlearnbench.data.registry import DatasetRef, PreparedData

KIND = "identity-folders-standin"
BUILTIN = "faces-standin"
STAND_IN = True  # always: it stands in for the VGGFace images
SETTINGS = frozenset({"n_identities", "images_per_identity", "image_size", "seed"})
REQUIRED: frozenset[str] = frozenset()
FINGERPRINT = tuple(sorted(SETTINGS))
DEFAULTS: dict[str, Any] = {"n_identities": 10, "images_per_identity": 20, "image_size": [64, 64], "seed": 0}
IMAGES_FOLDER = "images"
TEST_FRACTION = 0.2
_CANVAS = 128  # faces are drawn at this size, then scaled down (smooth edges)


def prepare(ref: DatasetRef, folder: Path) -> PreparedData:
    """Write the JPEG tree under ``folder/images/`` and read it with the identity-folders loader."""
    s = settings_of(ref.settings)
    root = folder / IMAGES_FOLDER
    if root.exists():  # generated content only: identities of an earlier, larger setting must not linger
        shutil.rmtree(root)
    write_faces(root, s["n_identities"], s["images_per_identity"], seed=s["seed"])
    data = identity_folders.read_identity_folders(
        ref.name,
        {
            "root": str(root),
            "image_size": [s["image_size"], s["image_size"]],
            "test_fraction": TEST_FRACTION,
            "stand_in": True,
            "stand_in_for": "VGGFace",
        },
    )
    data.description = (
        f"synthetic faces, {s['n_identities']} identities, {s['image_size']}x{s['image_size']} RGB"
    )
    data.source = f"generated (seed {s['seed']}) as JPEG identity folders, then " + data.source
    return data


def settings_of(settings: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and checked; ``image_size`` ([H, W], square) comes back as one integer."""
    s = {**DEFAULTS, **settings}
    size = s["image_size"]
    if isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1]:
        s["image_size"] = size[0]
    elif not isinstance(size, int):
        raise ValueError(
            f"faces stand-in: image_size must be [H, W] with H == W (square faces), got {size!r}"
        )
    minimum = {"n_identities": 2, "images_per_identity": 2, "image_size": 16, "seed": 0}
    for key, low in minimum.items():
        value = s[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"faces stand-in: {key} must be an integer >= {low}, got {value!r}")
    return s


def identity_name(index: int) -> str:
    return f"standin_person_{index:03d}"


def write_faces(root: Path, identities: int, images_per_identity: int, *, seed: int = 0) -> list[Path]:
    """Write ``root/<identity>/<k>.jpg`` for every identity and image; return the files written."""
    written = []
    for i in range(identities):
        person = _identity(np.random.default_rng([seed, 1, i]))
        folder = root / identity_name(i)
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, 2, i])
        for k in range(images_per_identity):
            path = folder / f"{k:04d}.jpg"
            draw_face(person, rng).save(path, format="JPEG", quality=90)
            written.append(path)
    return written


def _identity(rng: np.random.Generator) -> dict[str, Any]:
    skin = rng.uniform([120, 80, 60], [240, 200, 170])
    return {
        "skin": skin,
        "hair": rng.uniform(0, 200, size=3),
        "eyes": rng.uniform(0, 160, size=3),
        "face_w": rng.uniform(0.52, 0.72),
        "face_h": rng.uniform(0.70, 0.88),
        "eye_gap": rng.uniform(0.16, 0.30),
        "eye_y": rng.uniform(0.40, 0.50),
        "eye_r": rng.uniform(0.035, 0.06),
        "brow": rng.uniform(0.01, 0.035),
        "mouth_w": rng.uniform(0.12, 0.30),
        "mouth_y": rng.uniform(0.66, 0.76),
        "smile": rng.uniform(-0.05, 0.08),
        "hairline": rng.uniform(0.22, 0.40),
        "nose": rng.uniform(0.03, 0.08),
    }


def draw_face(p: dict[str, Any], rng: np.random.Generator) -> Image.Image:
    """One image of identity ``p``: pose, lighting and background drawn from ``rng``."""
    c = _CANVAS
    background = tuple(int(v) for v in rng.uniform(30, 230, size=3))
    image = Image.new("RGB", (c, c), background)
    draw = ImageDraw.Draw(image)
    scale = rng.uniform(0.9, 1.1)
    cx, cy = c * (0.5 + rng.normal(0, 0.03)), c * (0.5 + rng.normal(0, 0.03))

    def box(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        """Ellipse box centred at face coordinates (x, y) in units of the canvas."""
        px, py = cx + (x - 0.5) * c * scale, cy + (y - 0.5) * c * scale
        return (
            px - w * c * scale / 2,
            py - h * c * scale / 2,
            px + w * c * scale / 2,
            py + h * c * scale / 2,
        )

    def colour(rgb: np.ndarray, jitter: float = 12.0) -> tuple[int, int, int]:
        return tuple(int(v) for v in np.clip(rgb + rng.normal(0, jitter, size=3), 0, 255))

    skin, hair = colour(p["skin"]), colour(p["hair"])
    draw.ellipse(box(0.5, 0.5, p["face_w"] + 0.08, p["face_h"] + 0.06), fill=hair)  # hair behind the face
    draw.ellipse(box(0.5, 0.52, p["face_w"], p["face_h"]), fill=skin)
    top = 0.52 - p["face_h"] / 2
    draw.chord(
        box(0.5, top + p["hairline"] / 2, p["face_w"] + 0.02, p["hairline"] + 0.1), 180, 360, fill=hair
    )
    for side in (-1, 1):
        ex = 0.5 + side * p["eye_gap"] / 2
        draw.ellipse(box(ex, p["eye_y"], 2.2 * p["eye_r"], 1.4 * p["eye_r"]), fill=(245, 245, 245))
        draw.ellipse(box(ex, p["eye_y"], p["eye_r"], p["eye_r"]), fill=colour(p["eyes"], 6.0))
        draw.rectangle(box(ex, p["eye_y"] - 2.2 * p["eye_r"], 2.6 * p["eye_r"], p["brow"]), fill=hair)
    nose = tuple(int(v * 0.8) for v in skin)
    draw.polygon(
        [
            _point(box(0.5, 0.55, 0, 0)),
            _point(box(0.5 - p["nose"], 0.6, 0, 0)),
            _point(box(0.5 + p["nose"], 0.6, 0, 0)),
        ],
        fill=nose,
    )
    mouth = box(0.5, p["mouth_y"], p["mouth_w"], abs(p["smile"]) * 2 + 0.02)
    draw.arc(
        mouth, 0 if p["smile"] >= 0 else 180, 180 if p["smile"] >= 0 else 360, fill=(120, 30, 40), width=3
    )
    image = image.rotate(float(rng.normal(0, 6)), resample=Image.Resampling.BILINEAR, fillcolor=background)
    pixels = np.asarray(image, dtype=np.float64)
    ramp = np.linspace(-1, 1, c)[None, :, None] * rng.normal(0, 25)  # light from one side
    pixels = pixels * rng.uniform(0.8, 1.2) + ramp + rng.normal(0, 6, size=pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _point(b: tuple[float, float, float, float]) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
