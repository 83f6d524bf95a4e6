/* Annotation shapes between Annotorious (its internal selectors) and the plugin's JSON, and their measurements:
 * pure, so Node's test runner checks them (tests/js/annotations-geometry.test.mjs).
 *
 * Coordinates are full-resolution pixels (x right, y down, origin at the slide's top-left corner): the
 * image coordinates of OpenSeadragon and Annotorious, and the 2D coordinates of DICOM annotations. */

export const POINT_RADIUS_PX = 6; // a point is drawn as a small circle (Annotorious has no point shape)

const boundsOf = (points) => {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) };
};

// Math.min(...xs) overflows the stack for very long outlines; a loop does not.
function bounds(points) {
  if (points.length < 5000) {
    return boundsOf(points);
  }
  let minX = Infinity; let minY = Infinity; let maxX = -Infinity; let maxY = -Infinity;
  for (const [x, y] of points) {
    minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y);
  }
  return { minX, minY, maxX, maxY };
}

/** Corners of an Annotorious rectangle (rotated by `rot` radians about its centre), in drawing order. */
export function rectangleCorners({ x, y, w, h, rot }) {
  const cx = x + w / 2;
  const cy = y + h / 2;
  const c = Math.cos(rot || 0);
  const s = Math.sin(rot || 0);
  return [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]
    .map(([dx, dy]) => [cx + dx * c - dy * s, cy + dx * s + dy * c]);
}

/** An Annotorious selector as the plugin's {type, points} (DICOM graphic type), or null if it has none. */
export function selectorToShape(selector, isPoint) {
  const g = selector.geometry;
  switch (selector.type) {
    case 'ELLIPSE': {
      if (isPoint) {
        return { type: 'POINT', points: [[g.cx, g.cy]] };
      }
      const horizontal = [[g.cx - g.rx, g.cy], [g.cx + g.rx, g.cy]];
      const vertical = [[g.cx, g.cy - g.ry], [g.cx, g.cy + g.ry]];
      // DICOM: the major axis first, then the minor one.
      return { type: 'ELLIPSE', points: g.rx >= g.ry ? [...horizontal, ...vertical] : [...vertical, ...horizontal] };
    }
    case 'RECTANGLE':
      return { type: 'RECTANGLE', points: rectangleCorners(g) };
    case 'POLYGON':
      return { type: 'POLYGON', points: g.points.map((p) => [p[0], p[1]]) };
    case 'LINE':
      return { type: 'POLYLINE', points: g.points.map((p) => [p[0], p[1]]) };
    case 'POLYLINE': {
      const points = g.points.map((p) => [p.point[0], p.point[1]]);
      return { type: g.closed ? 'POLYGON' : 'POLYLINE', points };
    }
    case 'MULTIPOLYGON': {
      const first = g.polygons && g.polygons[0] && g.polygons[0].rings[0];
      return first ? { type: 'POLYGON', points: first.points.map((p) => [p[0], p[1]]) } : null;
    }
    default:
      return null;
  }
}

/** The plugin's {type, points} as an Annotorious selector; `point` says a POINT became a circle. */
export function shapeToSelector(shape) {
  const p = shape.points;
  switch (shape.type) {
    case 'POINT': {
      const [cx, cy] = p[0];
      const r = POINT_RADIUS_PX;
      return { point: true, selector: { type: 'ELLIPSE', geometry: { cx, cy, rx: r, ry: r,
        bounds: { minX: cx - r, minY: cy - r, maxX: cx + r, maxY: cy + r } } } };
    }
    case 'POLYLINE':
      if (p.length === 2) {
        return { selector: { type: 'LINE', geometry: { points: [p[0], p[1]], bounds: bounds(p) } } };
      }
      return { selector: { type: 'POLYLINE', geometry: { closed: false, bounds: bounds(p),
        points: p.map((q) => ({ type: 'CORNER', point: q })) } } };
    case 'RECTANGLE': {
      const [a, b, , d] = p;
      const w = Math.hypot(b[0] - a[0], b[1] - a[1]);
      const h = Math.hypot(d[0] - a[0], d[1] - a[1]);
      const rot = Math.atan2(b[1] - a[1], b[0] - a[0]);
      const cx = (p[0][0] + p[2][0]) / 2;
      const cy = (p[0][1] + p[2][1]) / 2;
      return { selector: { type: 'RECTANGLE', geometry: { x: cx - w / 2, y: cy - h / 2, w, h,
        rot: Math.abs(rot) < 1e-9 ? 0 : rot, bounds: bounds(p) } } };
    }
    case 'ELLIPSE': {
      const [a, b, c, d] = p;
      const cx = (a[0] + b[0]) / 2;
      const cy = (a[1] + b[1]) / 2;
      const alongX = Math.abs(a[1] - b[1]) < 1e-6;
      const alongY = Math.abs(a[0] - b[0]) < 1e-6;
      if (alongX || alongY) { // Annotorious ellipses are axis-aligned
        const first = Math.hypot(b[0] - a[0], b[1] - a[1]) / 2;
        const second = Math.hypot(d[0] - c[0], d[1] - c[1]) / 2;
        const [rx, ry] = alongX ? [first, second] : [second, first];
        return { selector: { type: 'ELLIPSE', geometry: { cx, cy, rx, ry,
          bounds: { minX: cx - rx, minY: cy - ry, maxX: cx + rx, maxY: cy + ry } } } };
      }
      return shapeToSelector({ type: 'POLYGON', points: ellipseOutline(p, 64) });
    }
    default:
      return { selector: { type: 'POLYGON', geometry: { points: p, bounds: bounds(p) } } };
  }
}

export function ellipseOutline([a, b, c, d], n) {
  const cx = (a[0] + b[0]) / 2;
  const cy = (a[1] + b[1]) / 2;
  const ax = (b[0] - a[0]) / 2; const ay = (b[1] - a[1]) / 2;
  const bx = (d[0] - c[0]) / 2; const by = (d[1] - c[1]) / 2;
  return Array.from({ length: n }, (_, i) => {
    const t = (2 * Math.PI * i) / n;
    return [cx + ax * Math.cos(t) + bx * Math.sin(t), cy + ay * Math.cos(t) + by * Math.sin(t)];
  });
}

/** A GeoJSON feature of /wsi/annotations/{series}/{instance} as {type, points}. */
export function featureToShape(feature) {
  const props = feature.properties || {};
  const g = feature.geometry;
  if (props.graphicType === 'ELLIPSE' && props.axes) {
    return { type: 'ELLIPSE', points: props.axes };
  }
  if (g.type === 'Point') {
    return { type: 'POINT', points: [g.coordinates] };
  }
  if (g.type === 'LineString') {
    return { type: 'POLYLINE', points: g.coordinates };
  }
  const ring = g.coordinates[0].slice(0, -1);
  return { type: props.graphicType === 'RECTANGLE' ? 'RECTANGLE' : 'POLYGON', points: ring };
}

// ---- measurements (the server computes the same when it stores them) -------------------------------

const scaled = (points, [sx, sy]) => points.map(([x, y]) => [x * sx * 1000, y * sy * 1000]);

function pathLength(points, closed) {
  let total = 0;
  const ring = closed ? [...points, points[0]] : points;
  for (let i = 1; i < ring.length; i += 1) {
    total += Math.hypot(ring[i][0] - ring[i - 1][0], ring[i][1] - ring[i - 1][1]);
  }
  return total;
}

function shoelace(points) {
  let twice = 0;
  for (let i = 0; i < points.length; i += 1) {
    const [x1, y1] = points[i];
    const [x2, y2] = points[(i + 1) % points.length];
    twice += x1 * y2 - x2 * y1;
  }
  return Math.abs(twice) / 2;
}

/** {lengthUm} of a line, {areaUm2, perimeterUm} of a closed shape; {} for a point or without spacing. */
export function measure(shape, spacingMm) {
  if (!spacingMm || shape.type === 'POINT') {
    return {};
  }
  const p = scaled(shape.points, spacingMm);
  if (shape.type === 'POLYLINE') {
    return { lengthUm: pathLength(p, false) };
  }
  if (shape.type === 'ELLIPSE') {
    const a = Math.hypot(p[1][0] - p[0][0], p[1][1] - p[0][1]) / 2;
    const b = Math.hypot(p[3][0] - p[2][0], p[3][1] - p[2][1]) / 2;
    const h = ((a - b) / (a + b)) ** 2;
    return { areaUm2: Math.PI * a * b, perimeterUm: Math.PI * (a + b) * (1 + (3 * h) / (10 + Math.sqrt(4 - 3 * h))) };
  }
  return { areaUm2: shoelace(p), perimeterUm: pathLength(p, true) };
}

/** "125 µm", "1.25 mm"; areas "850 µm²", "0.0125 mm²". */
export function formatMeasurements(m) {
  const number = (v) => (v >= 100 ? String(Math.round(v)) : v.toPrecision(3));
  const length = (um) => (um >= 1000 ? `${(um / 1000).toPrecision(3)} mm` : `${number(um)} µm`);
  const area = (um2) => (um2 >= 1e5 ? `${(um2 / 1e6).toPrecision(3)} mm²` : `${number(um2)} µm²`);
  const parts = [];
  if (m.lengthUm !== undefined) parts.push(`length ${length(m.lengthUm)}`);
  if (m.areaUm2 !== undefined) parts.push(`area ${area(m.areaUm2)}`, `perimeter ${length(m.perimeterUm)}`);
  return parts.join(', ');
}

/** Drops points closer than `minPx` to the previous kept one (a freehand stroke samples every mouse move). */
export function thin(points, minPx) {
  const out = [];
  for (const p of points) {
    const last = out[out.length - 1];
    if (!last || Math.hypot(p[0] - last[0], p[1] - last[1]) >= minPx) {
      out.push(p);
    }
  }
  return out;
}
