/* Pure geometry of the whole-slide viewer: no DOM, no OpenSeadragon, so Node's test runner can check it
 * (tests/js/viewer-geometry.test.mjs). Points are {x, y}; rectangles are {x, y, width, height}.
 *
 * Level 0 of the plugin's pyramid is the finest; OpenSeadragon counts the other way (its highest level is the
 * full image), so OSD level L is pyramid level n - 1 - L. OpenSeadragon's world is 1 wide. */

/** The plugin's /wsi/pyramids JSON as plain geometry; `fallbackId` when the JSON names no series. */
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
  };
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

/** Tile arithmetic by OpenSeadragon level, for a custom tile source; `query` ends every tile URL. */
export function tileGeometry(pyramid, query) {
  const n = pyramid.levels.length;
  const level = (osdLevel) => pyramid.levels[n - 1 - Math.max(0, Math.min(n - 1, osdLevel))];
  const unit = 1 / pyramid.width;
  const base = `../tiles/${encodeURIComponent(pyramid.id)}/`;
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
