"""Draw the demo app's PNG icons (a T-shirt on the app's teal) with Pillow; run once, commit the PNGs.

    .venv/bin/python scripts/demo_app/make_icons.py
"""
from pathlib import Path

from PIL import Image, ImageDraw

TEAL = (15, 118, 110, 255)
ICONS = Path(__file__).resolve().parents[2] / "edgekit" / "demo_app" / "icons"
# A T-shirt outline on a 100 x 100 grid (body, sleeves, neckline).
SHIRT = [(30, 18), (42, 14), (46, 20), (54, 20), (58, 14), (70, 18), (86, 34), (76, 44), (70, 38),
         (70, 86), (30, 86), (30, 38), (24, 44), (14, 34)]


def icon(size: int, *, maskable: bool) -> Image.Image:
    scale = 4  # draw large, then shrink: smooth edges
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:  # full bleed; the shirt stays inside the 80 % safe zone
        draw.rectangle((0, 0, big, big), fill=TEAL)
        inset, span = 0.2, 0.6
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=TEAL)
        inset, span = 0.1, 0.8
    points = [((inset + span * x / 100) * big, (inset + span * y / 100) * big) for x, y in SHIRT]
    draw.polygon(points, fill=(255, 255, 255, 255))
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    ICONS.mkdir(exist_ok=True)
    for size in (192, 512):
        icon(size, maskable=False).save(ICONS / f"icon-{size}.png", optimize=True)
    icon(512, maskable=True).save(ICONS / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
