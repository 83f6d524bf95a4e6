/* Pure geometry of the whole-slide viewer: no DOM, no OpenSeadragon, so Node's test runner can check it
 * (tests/js/viewer-geometry.test.mjs). Points are {x, y}; rectangles are {x, y, width, height}.
 *
 * Level 0 of the plugin's pyramid is the finest; OpenSeadragon counts the other way (its highest level is the
 * full image), so OSD level L is pyramid level n - 1 - L. OpenSeadragon's world is 1 wide. */

/** What the page shows, from its query string: a frame (`?instance=ID&frame=N`, N defaults to 0), a series
 * (`?series=ID`: a whole-slide pyramid, else the series' frames), or null (nothing usable asked for). */
export function viewerTarget(params) {
  const instance = params.get('instance');
  if (instance) {
    const frame = params.get('frame') ?? '0';
    return /^\d{1,9}$/.test(frame) ? { kind: 'frame', instance, frame: parseInt(frame, 10) } : null;
  }
  const series = params.get('series');
  return series ? { kind: 'series', series } : null;
}

/** The plugin's /wsi/pyramids or /wsi/frames-pyramids JSON as plain geometry; `fallbackId` when the JSON
 * names no series. */
export function readPyramid(json, fallbackId) {
  const width = json.TotalWidth;
  const height = json.TotalHeight;
  const levels = json.Sizes.map((size, i) => {
    const [tilesX, tilesY] = json.TilesCount[i];
    const [tileWidth, tileHeight] = (json.TilesSizes || [])[i] || [json.TileWidth, json.TileHeight];
    return {
      width: size[0], height: size[1], tilesX, tilesY, tileWidth, tileHeight,
      // Per-axis downsample from the real sizes, so non-power-of-two levels line up at the edges.
      scaleX: width / size[0], scaleY: height / size[1],
      spacingMm: (json.PixelSpacings || [])[i] || null,
    };
  });
  const paths = (json.OpticalPaths || []).map((p) => (typeof p === 'object' ? { id: String(p.ID),
    label: p.Description ? `${p.ID} — ${p.Description}` : String(p.ID) } : { id: String(p), label: String(p) }));
  return {
    id: json.ID || fallbackId, width, height, levels, opticalPaths: paths,
    focalPlanes: json.FocalPlanes || [],
    defaultOpticalPath: json.DefaultOpticalPath ?? (paths[0] ? paths[0].id : null),
    defaultFocalPlane: json.DefaultFocalPlane ?? 0,
    background: /^#[0-9a-fA-F]{6}$/.test(json.BackgroundColor || '') ? json.BackgroundColor : '#ffffff',
    spacingMm: baseSpacing(json, levels),
    volumeMm: json.ImagedVolumeWidth ? [json.ImagedVolumeWidth, json.ImagedVolumeHeight] : null,
    objectivePower: json.ObjectivePower || null,
    associated: json.AssociatedImages || [],
    tags: Object.assign({}, json.Study || {}, json.Series || {}, json.Tags || {}),
    frameNumber: Number.isInteger(json.FrameNumber) ? json.FrameNumber : null,
    grey: json.Grey === true,
    window: readWindow(json.Window),
    presets: (json.Presets || []).map((p) => ({ name: String(p.Name || ''), window: readWindow(p) }))
      .filter((p) => p.name && p.window),
  };
}

/** {center, width} from {Center, Width}, or null unless both are finite and the width is positive. */
export function readWindow(json) {
  if (!json || !Number.isFinite(json.Center) || !Number.isFinite(json.Width) || json.Width <= 0) {
    return null;
  }
  return { center: json.Center, width: json.Width };
}

function baseSpacing(json, levels) {
  if (levels[0].spacingMm) {
    return levels[0].spacingMm;
  }
  if (json.ImagedVolumeWidth && json.ImagedVolumeHeight) {
    return [json.ImagedVolumeWidth / json.TotalWidth, json.ImagedVolumeHeight / json.TotalHeight];
  }
  return null;
}

/** "?optical-path=..&focal-plane=.." for tile URLs, naming only what the slide has more than one of. */
export function tileQuery(pyramid, opticalPath, focalPlane) {
  const query = new URLSearchParams();
  if (pyramid.opticalPaths.length > 1) {
    query.set('optical-path', opticalPath);
  }
  if (pyramid.focalPlanes.length > 1) {
    query.set('focal-plane', String(focalPlane));
  }
  const text = query.toString();
  return text ? `?${text}` : '';
}

/** Where the tiles of a whole-slide series or of one frame are, relative to the viewer page. */
export function tileBase(source) {
  const id = encodeURIComponent;
  return source.kind === 'frame' ? `../frames-tiles/${id(source.instance)}/${source.frame}/`
    : `../tiles/${id(source.series)}/`;
}

/** Tile arithmetic by OpenSeadragon level, for a custom tile source; tile URLs are `base` z/x/y `query`
 * (base defaults to the whole-slide tiles of the pyramid's series). */
export function tileGeometry(pyramid, query, base = tileBase({ kind: 'series', series: pyramid.id })) {
  const n = pyramid.levels.length;
  const level = (osdLevel) => pyramid.levels[n - 1 - Math.max(0, Math.min(n - 1, osdLevel))];
  const unit = 1 / pyramid.width;
  return {
    levels: n,
    levelScale: (l) => 1 / level(l).scaleX,
    numTiles: (l) => ({ x: level(l).tilesX, y: level(l).tilesY }),
    tileWidth: (l) => level(l).tileWidth,
    tileHeight: (l) => level(l).tileHeight,
    /** The tile under a point of OpenSeadragon's world, clamped to the level's grid. */
    tileAtPoint(l, point) {
      const lv = level(l);
      const x = Math.floor(point.x / unit / lv.scaleX / lv.tileWidth);
      const y = Math.floor(point.y / unit / lv.scaleY / lv.tileHeight);
      return { x: Math.max(0, Math.min(lv.tilesX - 1, x)), y: Math.max(0, Math.min(lv.tilesY - 1, y)) };
    },
    /** Edge tiles arrive padded to the full tile size: the source rectangle keeps only the part inside the
     * level, and the world rectangle is that part's true size, so nothing is stretched. */
    tileBounds(l, x, y, isSource) {
      const lv = level(l);
      const w = Math.min(lv.tileWidth, lv.width - x * lv.tileWidth);
      const h = Math.min(lv.tileHeight, lv.height - y * lv.tileHeight);
      if (isSource) {
        return { x: 0, y: 0, width: w, height: h };
      }
      return { x: x * lv.tileWidth * lv.scaleX * unit, y: y * lv.tileHeight * lv.scaleY * unit,
        width: w * lv.scaleX * unit, height: h * lv.scaleY * unit };
    },
    tileExists: (l, x, y) => l >= 0 && l < n && x >= 0 && y >= 0 && x < level(l).tilesX && y < level(l).tilesY,
    tileUrl: (l, x, y) => `${base}${n - 1 - l}/${x}/${y}${query}`,
  };
}

// ---- deep link --------------------------------------------------------------------------------

/** The query string of a view: centre (x, y) in full-resolution pixels, zoom as screen pixels per
 * full-resolution pixel, rotation in degrees; `choices` are [name, shown, value] (optical path, focal plane). */
export function viewQuery(search, view, choices) {
  const query = new URLSearchParams(search);
  query.set('x', view.x.toFixed(1));
  query.set('y', view.y.toFixed(1));
  query.set('zoom', view.zoom.toPrecision(5));
  query.set('rotation', String(Math.round((((view.rotation % 360) + 360) % 360) * 100) / 100));
  for (const [key, shown, value] of choices) {
    if (shown) { query.set(key, String(value)); } else { query.delete(key); }
  }
  return query.toString();
}

/** The view a link asks for: each of x, y, zoom (> 0), rotation, or null when absent or not a finite number. */
export function linkedView(params) {
  const finite = (key) => {
    const value = parseFloat(params.get(key));
    return Number.isFinite(value) ? value : null;
  };
  const zoom = finite('zoom');
  return { x: finite('x'), y: finite('y'), zoom: zoom !== null && zoom > 0 ? zoom : null, rotation: finite('rotation') };
}

// ---- scale bar and ruler -----------------------------------------------------------------------

/** A length in micrometres as people write it: "250 µm", "1.5 mm", "12.35 mm". */
export function formatLength(um) {
  if (um >= 1000) {
    return `${parseFloat((um / 1000).toPrecision(um >= 10000 ? 4 : 3))} mm`;
  }
  return `${um >= 100 ? Math.round(um) : parseFloat(um.toPrecision(3))} µm`;
}

/** The largest 1, 2 or 5 times a power of ten not above `value` (value > 0). */
export function niceLength(value) {
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  const steps = [5, 2, 1].map((s) => s * power);
  return steps.find((s) => s <= value) || power;
}

/** A scale bar near `targetPx` screen pixels long: its length in µm and in screen pixels. */
export function scaleBar(spacingMm, imageZoom, targetPx) {
  const umPerScreenPx = (spacingMm[0] * 1000) / imageZoom;
  const um = niceLength(targetPx * umPerScreenPx);
  return { um, widthPx: um / umPerScreenPx };
}

/** The length between two full-resolution image points in µm, or null without pixel spacing. */
export function rulerLengthUm(spacingMm, start, end) {
  const dx = end.x - start.x;
  const dy = end.y - start.y;
  return spacingMm ? Math.hypot(dx * spacingMm[0], dy * spacingMm[1]) * 1000 : null;
}

// ---- window / level of grey frames ----------------------------------------------------------------

/** A window value rounded to about four significant digits of the width, so URLs stay short and stable. */
export function roundWindowValue(value, width) {
  const step = Math.pow(10, Math.floor(Math.log10(width)) - 3);
  return parseFloat((Math.round(value / step) * step).toPrecision(12));
}

/** The window after a drag of (dx, dy) screen pixels from `start`: right widens, down raises the centre
 * (the usual radiology convention); 256 px change either by the starting width, so the feel is the same
 * for 8-bit and for 16-bit data. The width never goes below the smaller of 1 and the starting width. */
export function dragWindow(start, dx, dy) {
  const perPixel = start.width / 256;
  const width = Math.max(Math.min(1, start.width), start.width + dx * perPixel);
  return { center: roundWindowValue(start.center + dy * perPixel, width), width: roundWindowValue(width, width) };
}

/** "CENTER,WIDTH" as the tile routes and deep links take it. */
export function windowText(window) {
  return `${window.center},${window.width}`;
}

/** The window a link asks for ("CENTER,WIDTH"), or null. */
export function parseWindow(text) {
  const match = /^\s*(-?[\d.]+(?:e[+-]?\d+)?)\s*,\s*([\d.]+(?:e[+-]?\d+)?)\s*$/i.exec(text || '');
  return match ? readWindow({ Center: parseFloat(match[1]), Width: parseFloat(match[2]) }) : null;
}

/** "?window=C,W" for the tiles of a grey frame shown with a window other than the file's default, else ''
 * (the default tiles keep the URLs a client of the C++ plugin asks for, and the server caches them). */
export function windowQuery(pyramid, window) {
  if (!pyramid.grey || !window || sameWindow(window, pyramid.window)) {
    return '';
  }
  return `?window=${windowText(window)}`;
}

export function sameWindow(a, b) {
  return Boolean(a && b && a.center === b.center && a.width === b.width);
}

/** "C 40 W 400" for the toolbar. */
export function formatWindow(window) {
  const number = (v) => String(parseFloat(v.toPrecision(6)));
  return window ? `C ${number(window.center)} W ${number(window.width)}` : '';
}

// ---- frames of a series -----------------------------------------------------------------------------

/** /wsi/series-frames JSON as [{instance, frame}], dropping malformed entries. */
export function readSeriesFrames(json) {
  return ((json && json.Frames) || []).filter((f) => f && typeof f.Instance === 'string' && Number.isInteger(f.Frame)
    && f.Frame >= 0).map((f) => ({ instance: f.Instance, frame: f.Frame }));
}

/** The frame index a link asks for (?frame-index=), clamped to the series; 0 when absent or invalid. */
export function linkedFrameIndex(params, count) {
  const index = parseInt(params.get('frame-index'), 10);
  return Number.isInteger(index) && index >= 0 ? Math.min(index, count - 1) : 0;
}

/** The index after a frame-navigation key, or null when the key is not one: PageDown / "." next,
 * PageUp / "," previous, Home first, End last. */
export function stepFrame(key, index, count) {
  const steps = { PageDown: index + 1, '.': index + 1, PageUp: index - 1, ',': index - 1, Home: 0, End: count - 1 };
  return key in steps ? Math.max(0, Math.min(count - 1, steps[key])) : null;
}
