"""Skeleton images drawn the way VACE's pose annotator draws its training data. Pure numpy: no bpy, no cv2.

Blender's Python has numpy but neither OpenCV nor an image library, so the OpenCV primitives the
annotator calls are rebuilt here from OpenCV's own rules (modules/imgproc/src/drawing.cpp): integer
scanlines, 16.16 fixed-point polygon edges and Bresenham outlines, so the drawing equals OpenCV's pixel
for pixel. What VACE does with a frame of W x H (ali-vilab/VACE, commit 48eb44f1c4be, files
`vace/annotators/pose.py` `PoseAnnotator.process` / `PoseBodyAnnotator`, `vace/annotators/dwpose/util.py`
`draw_bodypose`, `vace/annotators/dwpose/wholebody.py` `resize_image`):

1. It works on a canvas whose short side is 1024 and whose sides are multiples of 64 (`resize_image`).
2. Limbs: 17 of OpenPose's 19 limb pairs (the two ear-shoulder links are never drawn), each a filled
   ellipse between its two joints, half-axes (int(length / 2), 4), rotated by int(degrees), from
   `cv2.ellipse2Poly(..., delta=1)` + `cv2.fillConvexPoly`, in OpenPose's 18 colours, limb by limb.
3. The whole canvas is dimmed to 60 % (`(canvas * 0.6).astype(uint8)`).
4. Joints: `cv2.circle` of radius 4, filled, in the joint's colour.
5. The channels are reversed (VACE's canvas is BGR: limb 0's [255, 0, 0] comes out blue) and the canvas
   is resized back to W x H: area averaging when it shrinks, Lanczos-4 when it grows (`cv2.resize`).

Points that are not visible are not drawn, nor are the limbs that end in them (VACE's score < 0.3 rule).
"""

from __future__ import annotations

import math

import numpy as np

# VACE's PoseAnnotator RESIZE_SIZE default: the short side of the canvas the annotator draws on.
CANVAS_SHORT_SIDE = 1024
STICK_WIDTH = 4
JOINT_RADIUS = 4
# OpenPose limb pairs (1-based keypoint numbers, OpenPose order); VACE draws the first 17.
LIMBS = [
    (2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13),
    (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18), (3, 17), (6, 18),
]
DRAWN_LIMBS = 17
COLOURS = [
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
]
KEYPOINT_COUNT = 18

_DIMMED = (np.arange(256, dtype=np.uint8) * 0.6).astype(np.uint8)
_XY_SHIFT = 16
_XY_ONE = 1 << _XY_SHIFT

# OpenCV's sine table for whole degrees 0..450 (drawing.cpp SinTable), float32 as OpenCV stores it.
_SIN_TABLE = np.array(
    [round(math.sin(math.radians(degree)), 7) for degree in range(451)], dtype=np.float32
).astype(np.float64)


def canvas_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the annotator's canvas for a W x H frame, as VACE's resize_image computes it."""
    h, w = float(height), float(width)
    k = float(CANVAS_SHORT_SIDE) / min(h, w)
    h *= k
    w *= k
    return int(np.round(w / 64.0)) * 64, int(np.round(h / 64.0)) * 64


def render_pose_image(keypoints: np.ndarray, width: int, height: int, checkpoint=None) -> np.ndarray:
    """RGB uint8 (height, width, 3) image of the skeletons.

    `keypoints`: (persons, 18, 3) of (u, v, visible) in frame pixels (pixel centres at +0.5); u and v of
    invisible points are ignored (they may be NaN). `checkpoint`, if given, is called between primitives.
    """
    canvas, box = _draw(keypoints, width, height, checkpoint)
    if canvas.shape[:2] != (height, width):
        canvas = resize_canvas(canvas, width, height, box)  # per channel, so it commutes with the channel flip
    return np.ascontiguousarray(canvas[..., ::-1])


def canvas_points(keypoints: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints on the annotator's canvas, normalised as VACE keeps them ((persons, 18, 2) in 0..1),
    and their visibility. A frame point (u, v) is at canvas pixel index (u * W'/W - 0.5, v * H'/H - 0.5):
    the point a detector reports on the resized frame, in OpenCV's pixel-index convention."""
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, KEYPOINT_COUNT, 3)
    canvas_w, canvas_h = canvas_size(width, height)
    visible = keypoints[..., 2] > 0.5
    points = np.zeros(keypoints.shape[:2] + (2,))
    points[..., 0] = np.where(visible, keypoints[..., 0] * (canvas_w / width) - 0.5, 0.0) / float(canvas_w)
    points[..., 1] = np.where(visible, keypoints[..., 1] * (canvas_h / height) - 0.5, 0.0) / float(canvas_h)
    return points, visible


def draw_canvas(keypoints: np.ndarray, width: int, height: int, checkpoint=None) -> np.ndarray:
    """The annotator's canvas (H', W', 3) uint8 before the channel flip and resize (steps 1-4 above)."""
    return _draw(keypoints, width, height, checkpoint)[0]


def _draw(keypoints, width, height, checkpoint):
    """The canvas and the box (row0, row1, col0, col1) outside which it is certainly black."""
    canvas_w, canvas_h = canvas_size(width, height)
    points, visible = canvas_points(keypoints, width, height)
    canvas = np.zeros((canvas_h, canvas_w, 3), dtype=np.uint8)
    box = [canvas_h, -1, canvas_w, -1]

    def grow(xs, ys):
        box[0], box[1] = min(box[0], max(min(ys), 0)), max(box[1], min(max(ys), canvas_h - 1))
        box[2], box[3] = min(box[2], max(min(xs), 0)), max(box[3], min(max(xs), canvas_w - 1))

    W, H = float(canvas_w), float(canvas_h)
    for limb in range(DRAWN_LIMBS):
        a, b = LIMBS[limb][0] - 1, LIMBS[limb][1] - 1
        for person in range(points.shape[0]):
            if not (visible[person, a] and visible[person, b]):
                continue
            Y = points[person, [a, b], 0] * W
            X = points[person, [a, b], 1] * H
            mX, mY = float(np.mean(X)), float(np.mean(Y))
            length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(X[0] - X[1], Y[0] - Y[1]))
            polygon = ellipse_polygon((int(mY), int(mX)), (int(length / 2), STICK_WIDTH), int(angle))
            fill_convex_polygon(canvas, polygon, COLOURS[limb])
            grow([p[0] for p in polygon], [p[1] for p in polygon])
            if checkpoint is not None:
                checkpoint()
    if box[1] >= box[0]:  # (canvas * 0.6).astype(uint8): a table of the same 256 products, where limbs are
        region = canvas[box[0] : box[1] + 1, box[2] : box[3] + 1]
        region[...] = _DIMMED[region]
    for joint in range(KEYPOINT_COUNT):
        for person in range(points.shape[0]):
            if not visible[person, joint]:
                continue
            x, y = points[person, joint]
            centre = (int(x * W), int(y * H))
            fill_circle(canvas, centre, JOINT_RADIUS, COLOURS[joint])
            grow([centre[0] - JOINT_RADIUS, centre[0] + JOINT_RADIUS], [centre[1] - JOINT_RADIUS, centre[1] + JOINT_RADIUS])
    return canvas, (tuple(box) if box[1] >= box[0] and box[3] >= box[2] else None)


# ------------------------------------------------------------------ OpenCV's drawing rules, rebuilt


def _c_div(a: int, b: int) -> int:
    """C integer division: truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def ellipse_polygon(center: tuple[int, int], axes: tuple[int, int], angle: int) -> list[tuple[int, int]]:
    """cv2.ellipse2Poly(center, axes, angle, 0, 360, delta=1): integer vertices of a whole ellipse."""
    while angle < 0:
        angle += 360
    while angle > 360:
        angle -= 360
    alpha, beta = _SIN_TABLE[450 - angle], _SIN_TABLE[angle]  # cos, sin
    degrees = np.arange(0, 361)
    x = axes[0] * _SIN_TABLE[450 - degrees]
    y = axes[1] * _SIN_TABLE[degrees]
    xs = np.rint(center[0] + x * alpha - y * beta).astype(np.int64)  # cvRound: half to even
    ys = np.rint(center[1] + x * beta + y * alpha).astype(np.int64)
    points: list[tuple[int, int]] = []
    for point in zip(xs.tolist(), ys.tolist()):
        if not points or point != points[-1]:
            points.append(point)
    if len(points) == 1:
        points = [tuple(center), tuple(center)]
    return points


def _clip_line(width: int, height: int, x1: int, y1: int, x2: int, y2: int):
    """cv2.clipLine: the segment clipped to the image, or None when it misses it."""
    right, bottom = width - 1, height - 1
    c1 = (x1 < 0) + (x1 > right) * 2 + (y1 < 0) * 4 + (y1 > bottom) * 8
    c2 = (x2 < 0) + (x2 > right) * 2 + (y2 < 0) * 4 + (y2 > bottom) * 8
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            a = 0 if c1 < 8 else bottom
            x1 += _c_div((a - y1) * (x2 - x1), y2 - y1)
            y1 = a
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            a = 0 if c2 < 8 else bottom
            x2 += _c_div((a - y2) * (x2 - x1), y2 - y1)
            y2 = a
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                a = 0 if c1 == 1 else right
                y1 += _c_div((a - x1) * (y2 - y1), x2 - x1)
                x1 = a
                c1 = 0
            if c2:
                a = 0 if c2 == 1 else right
                y2 += _c_div((a - x2) * (y2 - y1), x2 - x1)
                x2 = a
                c2 = 0
    return (x1, y1, x2, y2) if (c1 | c2) == 0 else None


def _line(canvas: np.ndarray, p1: tuple[int, int], p2: tuple[int, int], colour) -> None:
    """An 8-connected one-pixel line as OpenCV's LineIterator walks it (left to right)."""
    height, width = canvas.shape[:2]
    x1, y1 = p1
    x2, y2 = p2
    inside = 0 <= x1 < width and 0 <= x2 < width and 0 <= y1 < height and 0 <= y2 < height
    if inside and abs(x2 - x1) <= 1 and abs(y2 - y1) <= 1:  # neighbours (most outline steps): both pixels, nothing between
        canvas[y1, x1] = colour
        canvas[y2, x2] = colour
        return
    if not inside:
        clipped = _clip_line(width, height, x1, y1, x2, y2)
        if clipped is None:
            return
        x1, y1, x2, y2 = clipped
    dx, dy = x2 - x1, y2 - y1
    if dx < 0:
        dx, dy = -dx, -dy
        x1, y1 = x2, y2
    step_y = -1 if dy < 0 else 1
    dy = abs(dy)
    vertical = dy > dx
    if vertical:
        dx, dy = dy, dx
    err = dx - (dy + dy)
    x, y = x1, y1
    for _ in range(dx + 1):
        canvas[y, x] = colour
        diagonal = err < 0
        err += -(dy + dy) + ((dx + dx) if diagonal else 0)
        if vertical:
            y += step_y
            x += 1 if diagonal else 0
        else:
            x += 1
            y += step_y if diagonal else 0


def fill_convex_polygon(canvas: np.ndarray, points: list[tuple[int, int]], colour) -> None:
    """cv2.fillConvexPoly(canvas, points, colour) with LINE_8 and shift 0: outline, then scanlines."""
    height, width = canvas.shape[:2]
    count = len(points)
    xmin = xmax = points[0][0]
    ymin = ymax = points[0][1]
    imin = 0
    previous = points[-1]
    for index, point in enumerate(points):
        if point[1] < ymin:
            ymin, imin = point[1], index
        ymax, xmax, xmin = max(ymax, point[1]), max(xmax, point[0]), min(xmin, point[0])
        _line(canvas, previous, point, colour)
        previous = point
    if count < 3 or xmax < 0 or ymax < 0 or xmin >= width or ymin >= height:
        return
    ymax = min(ymax, height - 1)
    # per edge: [index, direction, x (16.16), dx, y end]
    edges = [[imin, 1, -_XY_ONE, 0, ymin], [imin, count - 1, -_XY_ONE, 0, ymin]]
    remaining = count
    y = ymin
    half = _XY_ONE >> 1
    while True:
        for edge in edges:
            if y >= edge[4]:
                index0, direction = edge[0], edge[1]
                index = index0 + direction
                if index >= count:
                    index -= count
                while True:
                    more = remaining > 0
                    remaining -= 1
                    if not more:
                        break
                    ty = points[index][1]
                    if ty > y:
                        xs, xe = points[index0][0] << _XY_SHIFT, points[index][0] << _XY_SHIFT
                        edge[4] = ty
                        edge[3] = _c_div((xe - xs) * 2 + (ty - y), 2 * (ty - y))
                        edge[2] = xs
                        edge[0] = index
                        break
                    index0 = index
                    index += direction
                    if index >= count:
                        index -= count
        if remaining < 0:
            break
        if y >= 0:
            left, right = (edges[1], edges[0]) if edges[0][2] > edges[1][2] else (edges[0], edges[1])
            x1 = (left[2] + half) >> _XY_SHIFT
            x2 = (right[2] + half) >> _XY_SHIFT
            if x2 >= 0 and x1 < width:
                canvas[y, max(x1, 0) : min(x2, width - 1) + 1] = colour
        edges[0][2] += edges[0][3]
        edges[1][2] += edges[1][3]
        y += 1
        if y > ymax:
            break


def fill_circle(canvas: np.ndarray, center: tuple[int, int], radius: int, colour) -> None:
    """cv2.circle(canvas, center, radius, colour, thickness=-1) with LINE_8: OpenCV's midpoint spans."""
    height, width = canvas.shape[:2]
    cx, cy = center
    err, dx, dy, plus, minus = 0, radius, 0, 1, (radius << 1) - 1

    def span(y, x_left, x_right):
        if 0 <= y < height and x_right >= 0 and x_left < width:
            canvas[y, max(x_left, 0) : min(x_right, width - 1) + 1] = colour

    while dx >= dy:
        span(cy - dy, cx - dx, cx + dx)
        span(cy + dy, cx - dx, cx + dx)
        span(cy - dx, cx - dy, cx + dy)
        span(cy + dx, cx - dy, cx + dy)
        dy += 1
        err += plus
        plus += 2
        mask = (0 if err <= 0 else -1)
        err -= minus & mask
        dx += mask
        minus -= mask & 2


# ------------------------------------------------------------------ cv2.resize back to the frame size


def resize_canvas(canvas: np.ndarray, width: int, height: int, box=None) -> np.ndarray:
    """The canvas resized to width x height as VACE does: area averaging to shrink, Lanczos-4 to grow.

    Separable, in float64, rounded half to even: OpenCV's own fixed-point and float32 arithmetic can
    round a pixel one level the other way. Only the target pixels whose taps reach the drawn `box`
    (row0, row1, col0, col1; found when not given) are computed: a skeleton covers a small part of the
    frame, and the rest is black either way.
    """
    canvas_h, canvas_w = canvas.shape[:2]
    resized = np.zeros((height, width, canvas.shape[2]), dtype=np.uint8)
    if box is None:
        drawn_rows = np.flatnonzero(canvas.reshape(canvas_h, -1).any(axis=1))
        if drawn_rows.size:
            drawn_cols = np.flatnonzero(canvas[drawn_rows[0] : drawn_rows[-1] + 1].any(axis=(0, 2)))
            box = (drawn_rows[0], drawn_rows[-1], drawn_cols[0], drawn_cols[-1])
    if box is None:
        return resized
    r0, r1, c0, c1 = box
    taps = _lanczos4_taps if width * height > canvas_w * canvas_h else _area_taps
    rows, row_weights = taps(canvas_h, height)
    cols, col_weights = taps(canvas_w, width)
    target_rows = np.flatnonzero(((rows >= r0) & (rows <= r1) & (row_weights != 0)).any(axis=1))
    target_cols = np.flatnonzero(((cols >= c0) & (cols <= c1) & (col_weights != 0)).any(axis=1))
    rows, row_weights = rows[target_rows], row_weights[target_rows]
    cols, col_weights = cols[target_cols], col_weights[target_cols]
    source = canvas[r0 : r1 + 1].astype(np.float64)
    horizontal = np.zeros((r1 + 1 - r0, len(target_cols), canvas.shape[2]), dtype=np.float64)
    for k in range(cols.shape[1]):
        horizontal += source[:, cols[:, k]] * col_weights[None, :, k, None]
    # Taps on rows outside the drawn band read black: their weight is dropped instead.
    row_weights = np.where((rows >= r0) & (rows <= r1), row_weights, 0.0)
    rows = np.clip(rows - r0, 0, r1 - r0)
    block = np.zeros((len(target_rows), len(target_cols), canvas.shape[2]), dtype=np.float64)
    for k in range(rows.shape[1]):
        block += horizontal[rows[:, k]] * row_weights[:, k, None, None]
    resized[np.ix_(target_rows, target_cols)] = np.clip(np.rint(block), 0, 255).astype(np.uint8)
    return resized


def _area_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2.INTER_AREA when shrinking: each target pixel averages the source area it covers.
    Source indices (target, taps) and each one's share of the target pixel (rows sum to 1)."""
    scale = source / target
    starts = np.arange(target) * scale
    first = np.floor(starts).astype(np.int64)
    count = int(math.ceil(scale)) + 1
    cells = first[:, None] + np.arange(count)[None, :]
    overlap = np.minimum(starts[:, None] + scale, cells + 1) - np.maximum(starts[:, None], cells)
    weights = np.clip(overlap, 0.0, None) / scale
    return np.clip(cells, 0, source - 1), weights


def _lanczos4_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2.INTER_LANCZOS4 when growing: 8 windowed-sinc taps (OpenCV's interpolateLanczos4), borders
    replicated. Source indices (target, 8) and weights."""
    scale = source / target
    position = (np.arange(target) + 0.5) * scale - 0.5
    start = np.floor(position).astype(np.int64)
    fraction = (position - start).astype(np.float32).astype(np.float64)
    taps = np.arange(8)
    y = -(fraction[:, None] + 3 - taps[None, :]) * math.pi * 0.25
    y0 = -(fraction + 3) * math.pi * 0.25
    s45 = 0.70710678118654752440084436210485
    cs = np.array([[1, 0], [-s45, -s45], [0, 1], [s45, -s45], [-1, 0], [s45, s45], [0, -1], [-s45, s45]])
    exact = fraction < np.finfo(np.float32).eps
    y[exact] = 1.0  # those rows are replaced below; this keeps the division finite
    coefficients = (cs[None, :, 0] * np.sin(y0)[:, None] + cs[None, :, 1] * np.cos(y0)[:, None]) / (y * y)
    coefficients[exact] = 0.0
    coefficients[exact, 3] = 1.0
    coefficients = coefficients.astype(np.float32).astype(np.float64)
    coefficients /= coefficients.sum(axis=1, keepdims=True)
    return np.clip(start[:, None] - 3 + taps[None, :], 0, source - 1), coefficients
