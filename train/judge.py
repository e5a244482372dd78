"""The judge of the shapes world: parse a 32×32 image back into objects, and score a batch of them.

Each image is parsed back into objects by `analyse` (pure numpy, ~2 ms an image): the lit pixels are split into
connected components, and each component gets the nearest palette colour of its fully covered interior, a shape
from its geometry (fill of its bounding box: square 1.0, circle 0.785, triangle 0.5; an upright triangle has most
of its area in its lower half) and a size class. An image is *clean* when it could have come from `train.shapes`: a
black background, one or two objects of a plausible size, each of one flat palette colour and a recognisable shape.
Every evaluation of `train/` judges with it (`evaluate`, `evaluate_prompts`, `evaluate_classifier`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from train.shapes import COLOURS, IMAGE_SIZE, SIZES

LIT_LEVEL = 48  # max channel above which a pixel belongs to an object: ~20% coverage of the darkest palette colour
MIN_OBJECT_PIXELS = 10  # smaller components are specks: not objects, but they count as background noise
MAX_STRAY_PIXELS = 8  # lit pixels allowed away from the objects (~1% of the image) before the background is noisy
MAX_BACKGROUND_MEAN = 10.0  # mean max-channel of the background: catches a dim haze that stays under LIT_LEVEL
MAX_COLOUR_DISTANCE = 35.0  # RGB distance to the palette: under half the closest pair (orange-yellow, ~78)
MIN_UNIFORMITY = 0.9  # interior pixels within MAX_COLOUR_DISTANCE of the object's colour
MIN_EDGE_PURITY = 0.8  # edge pixels that are the object's colour blended with black (anti-aliasing), no other
MIN_INTERIOR_PIXELS = 6
ALPHA_FLOOR = 0.08  # coverage under this is taken as background noise, not as a faint fringe of the object
SIZE_TOLERANCE = 1.5  # px beyond train.shapes.SIZES that a measured width may stray
# Fill of the bounding box (data: square 1.0, circle 0.77-0.82, triangle 0.52-0.64); the taper tells the last two apart.
SHAPE_FILLS = {"square": (0.9, 1.1), "circle": (0.68, 0.9), "triangle": (0.4, 0.68)}
PALETTE_NAMES = tuple(COLOURS)
PALETTE = np.array([COLOURS[name] for name in PALETTE_NAMES], dtype=np.float32)


@dataclass
class ParsedObject:
    colour: str
    shape: str  # "circle", "square", "triangle" or "unknown"
    size: str  # "small", "large" or "implausible"
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 of the lit pixels, x1 and y1 exclusive
    center: tuple[float, float]  # x, y of the (anti-aliasing aware) bounding box's centre
    width: float  # px across, from the soft extent of the object
    colour_distance: float
    uniformity: float
    edge_purity: float
    fill: float
    taper: float  # area of the top half / area of the bottom half: ~1/3 for an upright triangle, 1 otherwise


@dataclass
class Analysis:
    objects: list[ParsedObject] = field(default_factory=list)
    clean: bool = False
    reason: str = ""  # "category: detail" when not clean; the category is what `score` counts


def _shift_reduce(mask: np.ndarray, reduce: np.ufunc) -> np.ndarray:
    """OR (dilate) or AND (erode) of the 3x3 neighbourhood; outside the image counts as not in the mask."""
    padded, (height, width) = np.pad(mask, 1), mask.shape
    return reduce.reduce([padded[dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)])


def _label(mask: np.ndarray) -> list[np.ndarray]:
    """8-connected components of a small mask, by flood fill: the image is 1024 px, no library needed."""
    lit = mask.tolist()  # python lists: element access is much faster than on a numpy array
    height, width = mask.shape
    seen = [[False] * width for _ in range(height)]
    components = []
    for start_y, start_x in np.argwhere(mask).tolist():
        if seen[start_y][start_x]:
            continue
        seen[start_y][start_x] = True
        stack, pixels = [(start_y, start_x)], []
        while stack:
            y, x = stack.pop()
            pixels.append((y, x))
            for ny in range(max(y - 1, 0), min(y + 2, height)):
                for nx in range(max(x - 1, 0), min(x + 2, width)):
                    if lit[ny][nx] and not seen[ny][nx]:
                        seen[ny][nx] = True
                        stack.append((ny, nx))
        component = np.zeros(mask.shape, dtype=bool)
        component[tuple(np.array(pixels).T)] = True
        components.append(component)
    return components


def _soft_extent(profile: np.ndarray) -> tuple[float, float]:
    """Start and end (px) of a 1-D coverage profile, counting a partly covered end pixel partly."""
    indices = np.nonzero(profile > 0)[0]
    if not len(indices):  # lit, but in no way the object's colour: nothing to measure
        return 0.0, 0.0
    first, last = indices[0], indices[-1]
    return first + 1 - profile[first], last + profile[last]


def _parse_object(image: np.ndarray, component: np.ndarray, others: np.ndarray) -> ParsedObject:
    pixels = image.astype(np.float32)
    # Two px in from the lit edge, a pixel is fully covered even if the edge is a little soft; small objects get one.
    inner = _shift_reduce(component, np.logical_and)
    interior = _shift_reduce(inner, np.logical_and)
    if interior.sum() < MIN_INTERIOR_PIXELS:
        interior = inner if inner.sum() >= MIN_INTERIOR_PIXELS else component
    median = np.median(pixels[interior], axis=0)
    distances = np.linalg.norm(PALETTE - median, axis=1)
    colour_index = int(np.argmin(distances))
    colour = PALETTE[colour_index]
    uniformity = float(np.mean(np.linalg.norm(pixels[interior] - colour, axis=1) <= MAX_COLOUR_DISTANCE))
    # Anti-aliased pixels are alpha * colour: the residual of that fit is large where colours mix.
    region = _shift_reduce(component, np.logical_or) & ~others  # includes the dim edge pixels under LIT_LEVEL
    alpha = np.where(region, np.clip(pixels @ colour / (colour @ colour), 0, 1), 0)
    residual = np.linalg.norm(pixels - alpha[..., None] * colour, axis=-1)
    alpha = np.clip((alpha - ALPHA_FLOOR) / (1 - ALPHA_FLOOR), 0, 1)
    edge = component & ~interior
    edge_purity = float(np.mean(residual[edge] <= MAX_COLOUR_DISTANCE)) if edge.any() else 1.0
    # Geometry from the soft coverage, so that anti-aliasing and sub-pixel placement do not bias it.
    x0, x1 = _soft_extent(alpha.max(axis=0))
    y0, y1 = _soft_extent(alpha.max(axis=1))
    width, height, area = x1 - x0, y1 - y0, float(alpha.sum())
    fill = float(area / max(width * height, 1e-6))
    row_areas = alpha.sum(axis=1)
    top_area = float(np.sum(row_areas * np.clip((y0 + y1) / 2 - np.arange(len(row_areas)), 0, 1)))
    taper = top_area / max(area - top_area, 1e-6)
    shape = "unknown"
    if 0.8 <= width / max(height, 1e-6) <= 1.25:  # every shape of the data is as high as it is wide
        for name, (low, high) in SHAPE_FILLS.items():
            upright = taper < 0.55 if name == "triangle" else 0.7 < taper < 1.43
            if low <= fill < high and upright:
                shape = name
    across = max(width, height)
    size = "implausible"
    for name, (smallest, largest) in SIZES.items():
        if smallest - SIZE_TOLERANCE <= across <= largest + SIZE_TOLERANCE:
            size = name
    ys, xs = np.nonzero(component)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    center = (float(x0 + x1) / 2, float(y0 + y1) / 2)
    measures = (float(across), float(distances[colour_index]), uniformity, edge_purity, fill, taper)
    return ParsedObject(PALETTE_NAMES[colour_index], shape, size, bbox, center, *measures)


def _reject(obj: ParsedObject) -> str:
    """Why one object could not have been drawn by train.shapes, or '' if it could."""
    if obj.size == "implausible":
        return f"size: {obj.width:.1f} px across"
    if obj.colour_distance > MAX_COLOUR_DISTANCE:
        return f"colour: {obj.colour_distance:.0f} from {obj.colour}"
    if obj.uniformity < MIN_UNIFORMITY:
        return f"uniformity: {obj.uniformity:.0%} of the interior is {obj.colour}"
    if obj.edge_purity < MIN_EDGE_PURITY:
        return f"mixed edge: {obj.edge_purity:.0%} of the edge is {obj.colour} on black"
    if obj.shape == "unknown":
        return f"shape: fill {obj.fill:.2f}, taper {obj.taper:.2f}"
    return ""


def analyse(image: np.ndarray) -> Analysis:
    """Parse one (32, 32, 3) uint8 image into objects and say whether it is clean (and if not, why)."""
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3) or image.dtype != np.uint8:
        raise ValueError(f"expected a ({IMAGE_SIZE}, {IMAGE_SIZE}, 3) uint8 image, got {image.shape} {image.dtype}")
    brightness = image.max(axis=-1)
    components = [c for c in _label(brightness > LIT_LEVEL) if c.sum() >= MIN_OBJECT_PIXELS]
    occupied = np.logical_or.reduce(components) if components else np.zeros(brightness.shape, dtype=bool)
    # The dilation keeps the anti-aliased fringe, dimmer than LIT_LEVEL, out of the background.
    background = ~_shift_reduce(occupied, np.logical_or)
    objects = [_parse_object(image, c, occupied & ~c) for c in components]
    analysis = Analysis(objects=objects)
    stray = int(np.sum(brightness[background] > LIT_LEVEL))
    level = float(brightness[background].mean()) if background.any() else 0.0
    if stray > MAX_STRAY_PIXELS or level > MAX_BACKGROUND_MEAN:  # first: noise also falls apart into many objects
        analysis.reason = f"background: {stray} stray pixels, mean {level:.1f}"
    elif not 1 <= len(objects) <= 2:
        analysis.reason = f"count: {len(objects)} objects"
    elif len(objects) == 2 and objects[0].colour == objects[1].colour:  # never so in the data
        analysis.reason = f"colour: two {objects[0].colour} objects"
    else:
        analysis.reason = next((reason for reason in map(_reject, objects) if reason), "")
    analysis.clean = not analysis.reason
    return analysis


def score(images: np.ndarray) -> dict:
    """Figures over a batch (N, 32, 32, 3) uint8: clean fraction, coverage of colours and shapes, reasons."""
    analyses = [analyse(image) for image in images]
    clean = [analysis for analysis in analyses if analysis.clean]
    colours = Counter(obj.colour for analysis in clean for obj in analysis.objects)
    shapes = Counter(obj.shape for analysis in clean for obj in analysis.objects)
    return {
        "samples": len(analyses),
        "clean": len(clean),
        "clean_fraction": len(clean) / max(len(analyses), 1),
        "colour_coverage": f"{len(colours)}/{len(COLOURS)}",
        "shape_coverage": f"{len(shapes)}/3",
        "colours": dict(colours.most_common()),
        "shapes": dict(shapes.most_common()),
        "sizes": dict(Counter(obj.size for analysis in clean for obj in analysis.objects).most_common()),
        "objects_per_clean_image": dict(Counter(len(analysis.objects) for analysis in clean).most_common()),
        "not_clean_reasons": dict(Counter(a.reason.split(":")[0] for a in analyses if not a.clean).most_common()),
    }
