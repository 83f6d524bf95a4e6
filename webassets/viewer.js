/* Whole-slide viewer: OpenSeadragon over the plugin's /wsi/pyramids and /wsi/tiles routes (an ES module; the
 * arithmetic is in viewer-geometry.js).
 *
 * It knows nothing about DICOM beyond the pyramid JSON.
 * Deep link: ?series=ID[&description=..][&x=..&y=..&zoom=..&rotation=..][&optical-path=..&focal-plane=..],
 * with the centre (x, y) in full-resolution pixels and zoom as screen pixels per full-resolution pixel. */
import {
  formatLength, linkedView, readPyramid, rulerLengthUm, scaleBar, tileGeometry, tileQuery, viewQuery,
} from './viewer-geometry.js';

{

  const OSD = window.OpenSeadragon;
  const params = new URLSearchParams(window.location.search);
  const seriesId = params.get('series') || '';
  const $ = (id) => document.getElementById(id);
  const SCALE_BAR_TARGET_PX = 120;
  const TAGS_SHOWN = ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime',
    'StudyDescription', 'AccessionNumber', 'StudyID', 'SeriesDescription', 'SeriesNumber', 'SeriesDate',
    'Modality', 'Manufacturer', 'BodyPartExamined', 'ContainerIdentifier'];

  const state = { viewer: null, pyramid: null, opticalPath: null, focalPlane: null, ruler: null,
    rulerMode: false, failedTiles: 0 };
  window.wsiViewer = state; // for the browser tests and the curious

  function showStatus(message, isError) {
    const status = $('status');
    status.textContent = message;
    status.hidden = !message;
    status.classList.toggle('error', Boolean(isError));
  }


  // ---- tile source ------------------------------------------------------------------------------

  function currentTileQuery() {
    return tileQuery(state.pyramid, state.opticalPath, state.focalPlane);
  }

  function makeTileSource(pyramid) {
    const g = tileGeometry(pyramid, currentTileQuery());
    const point = (p) => new OSD.Point(p.x, p.y);
    const rect = (r) => new OSD.Rect(r.x, r.y, r.width, r.height);
    return {
      width: pyramid.width, height: pyramid.height,
      tileWidth: pyramid.levels[0].tileWidth, tileHeight: pyramid.levels[0].tileHeight,
      tileOverlap: 0, minLevel: 0, maxLevel: g.levels - 1,
      getLevelScale: g.levelScale,
      getNumTiles: (l) => point(g.numTiles(l)),
      getTileWidth: g.tileWidth,
      getTileHeight: g.tileHeight,
      getTileAtPoint: (l, p) => point(g.tileAtPoint(l, p)),
      getTileBounds: (l, x, y, isSource) => rect(g.tileBounds(l, x, y, isSource)),
      tileExists: g.tileExists,
      getTileUrl: g.tileUrl,
    };
  }

  // ---- deep link --------------------------------------------------------------------------------

  function item() {
    return state.viewer.world.getItemAt(0);
  }

  function currentView() {
    const viewport = state.viewer.viewport;
    const centre = item().viewportToImageCoordinates(viewport.getCenter(true));
    return {
      x: centre.x, y: centre.y, zoom: item().viewportToImageZoom(viewport.getZoom(true)),
      rotation: ((viewport.getRotation(true) % 360) + 360) % 360,
    };
  }

  function writeUrl() {
    if (!item()) {
      return;
    }
    const query = viewQuery(window.location.search, currentView(), [
      ['optical-path', state.pyramid.opticalPaths.length > 1, state.opticalPath],
      ['focal-plane', state.pyramid.focalPlanes.length > 1, state.focalPlane]]);
    window.history.replaceState(null, '', `${window.location.pathname}?${query}`);
  }

  function restoreView() {
    const { x, y, zoom, rotation } = linkedView(params);
    const viewport = state.viewer.viewport;
    if (rotation !== null) {
      viewport.setRotation(rotation, true);
    }
    if (zoom !== null) {
      viewport.zoomTo(item().imageToViewportZoom(zoom), null, true);
    }
    if (x !== null && y !== null) {
      viewport.panTo(item().imageToViewportCoordinates(x, y), true);
    }
    viewport.applyConstraints(true);
  }

  // ---- scale bar and ruler -----------------------------------------------------------------------

  function updateScaleBar() {
    const spacing = state.pyramid.spacingMm;
    const bar = $('scale-bar');
    if (!spacing || !item()) {
      bar.hidden = true;
      return;
    }
    const zoom = item().viewportToImageZoom(state.viewer.viewport.getZoom(true));
    const { um, widthPx } = scaleBar(spacing, zoom, SCALE_BAR_TARGET_PX);
    $('scale-bar-line').style.width = `${widthPx}px`;
    $('scale-bar-text').textContent = formatLength(um);
    bar.dataset.um = String(um);
    bar.hidden = false;
  }

  function drawRuler() {
    const line = $('ruler-line');
    const readout = $('ruler-readout');
    if (!state.ruler || !item()) {
      line.style.display = 'none';
      readout.hidden = true;
      return;
    }
    const a = item().imageToViewerElementCoordinates(new OSD.Point(state.ruler.start.x, state.ruler.start.y));
    const b = item().imageToViewerElementCoordinates(new OSD.Point(state.ruler.end.x, state.ruler.end.y));
    for (const [name, value] of [['x1', a.x], ['y1', a.y], ['x2', b.x], ['y2', b.y]]) {
      line.setAttribute(name, String(value));
    }
    line.style.display = '';
    const um = rulerLengthUm(state.pyramid.spacingMm, state.ruler.start, state.ruler.end);
    const px = Math.hypot(state.ruler.end.x - state.ruler.start.x, state.ruler.end.y - state.ruler.start.y);
    readout.textContent = um === null ? `${px.toFixed(0)} px (no pixel spacing)` : formatLength(um);
    readout.dataset.um = um === null ? '' : um.toFixed(3);
    readout.dataset.px = px.toFixed(3);
    readout.style.left = `${(a.x + b.x) / 2}px`;
    readout.style.top = `${(a.y + b.y) / 2}px`;
    readout.hidden = false;
  }

  function setRulerMode(on) {
    state.rulerMode = on;
    $('ruler-button').setAttribute('aria-pressed', String(on));
    document.body.classList.toggle('measuring', on);
    if (!on) {
      state.ruler = null;
      drawRuler();
    }
  }

  function installRuler(viewer) {
    const toImage = (event) => item().viewerElementToImageCoordinates(event.position);
    viewer.addHandler('canvas-press', (event) => {
      if (state.rulerMode) {
        const p = toImage(event);
        state.ruler = { start: p, end: p };
        drawRuler();
      }
    });
    viewer.addHandler('canvas-drag', (event) => {
      if (state.rulerMode && state.ruler) {
        event.preventDefaultAction = true; // measure instead of panning
        state.ruler.end = toImage(event);
        drawRuler();
      }
    });
    viewer.addHandler('canvas-click', (event) => {
      if (state.rulerMode) {
        event.preventDefaultAction = true; // no zoom on click while measuring
      }
    });
    viewer.addHandler('update-viewport', drawRuler);
  }

  // ---- information panel ------------------------------------------------------------------------

  function addFact(list, term, value) {
    if (value === null || value === undefined || value === '') {
      return;
    }
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = term;
    dd.textContent = value;
    list.append(dt, dd);
  }

  function formatTag(name, value) {
    if (/Date$/.test(name) && /^\d{8}$/.test(value)) {
      return `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}`;
    }
    return name === 'PatientName' ? value.replace(/\^+/g, ' ').trim() : value;
  }

  function fillInfo(p) {
    const facts = $('slide-facts');
    const um = p.spacingMm ? p.spacingMm.map((v) => v * 1000) : null;
    addFact(facts, 'Size', `${p.width} × ${p.height} px`);
    const mm = p.volumeMm || (p.spacingMm && [p.width * p.spacingMm[0], p.height * p.spacingMm[1]]);
    addFact(facts, 'Physical size', mm && `${mm[0].toFixed(2)} × ${mm[1].toFixed(2)} mm`);
    addFact(facts, 'Pixel spacing', um && `${um[0].toPrecision(4)} × ${um[1].toPrecision(4)} µm/px`);
    if (p.objectivePower) {
      addFact(facts, 'Magnification', `${p.objectivePower}× (objective lens power)`);
    } else if (um) {
      // Convention of slide scanners: 0.25 µm/px is called "40×".
      addFact(facts, 'Magnification', `≈ ${Math.round(10 / um[0])}× (estimated from pixel spacing)`);
    }
    addFact(facts, 'Levels', String(p.levels.length));
    addFact(facts, 'Tile size', `${p.levels[0].tileWidth} × ${p.levels[0].tileHeight} px`);
    addFact(facts, 'Background', p.background);
    addFact(facts, 'Optical paths', p.opticalPaths.length > 1 ? String(p.opticalPaths.length) : '');
    addFact(facts, 'Focal planes', p.focalPlanes.length > 1 ? String(p.focalPlanes.length) : '');
    const body = $('levels').tBodies[0];
    p.levels.forEach((lv, i) => {
      const row = body.insertRow();
      const spacing = lv.spacingMm ? (lv.spacingMm[0] * 1000).toPrecision(4)
        : (um ? (um[0] * lv.scaleX).toPrecision(4) : '—');
      for (const text of [i, `${lv.width} × ${lv.height}`, lv.scaleX.toFixed(lv.scaleX % 1 ? 3 : 0),
        `${lv.tilesX} × ${lv.tilesY}`, spacing]) {
        row.insertCell().textContent = String(text);
      }
    });
    fillAssociated(p);
    const tags = $('tags');
    for (const name of TAGS_SHOWN) {
      if (p.tags[name]) {
        addFact(tags, name.replace(/([a-z])([A-Z])/g, '$1 $2'), formatTag(name, p.tags[name]));
      }
    }
    $('tags-section').hidden = !tags.children.length;
  }

  function fillAssociated(p) {
    const box = $('associated');
    for (const kind of p.associated) {
      const url = `../associated/${encodeURIComponent(p.id)}/${encodeURIComponent(kind)}`;
      const figure = document.createElement('figure');
      const link = document.createElement('a');
      const image = document.createElement('img');
      const caption = document.createElement('figcaption');
      link.href = url;
      link.target = '_blank';
      image.src = url;
      image.alt = kind;
      caption.textContent = kind;
      link.append(image);
      figure.append(link, caption);
      box.append(figure);
    }
    $('associated-section').hidden = !p.associated.length;
  }

  function togglePanel(button, panel) {
    const open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute('aria-pressed', String(open));
  }

  // ---- pickers ------------------------------------------------------------------------------------

  function fillPicker(select, picker, entries, selected) {
    for (const [value, label] of entries) {
      select.add(new Option(label, value, false, String(value) === String(selected)));
    }
    picker.hidden = entries.length < 2;
  }

  function installPickers(p) {
    state.opticalPath = params.get('optical-path') || p.defaultOpticalPath;
    const plane = parseInt(params.get('focal-plane'), 10);
    state.focalPlane = plane >= 0 && plane < p.focalPlanes.length ? plane : p.defaultFocalPlane;
    fillPicker($('optical-path'), $('optical-path-picker'), p.opticalPaths.map((o) => [o.id, o.label]),
      state.opticalPath);
    fillPicker($('focal-plane'), $('focal-plane-picker'),
      p.focalPlanes.map((z, i) => [String(i), `z = ${z} µm`]), state.focalPlane);
    $('optical-path').addEventListener('change', (e) => { state.opticalPath = e.target.value; reloadTiles(); });
    $('focal-plane').addEventListener('change', (e) => {
      state.focalPlane = parseInt(e.target.value, 10);
      reloadTiles();
    });
  }

  function reloadTiles() {
    state.viewer.addTiledImage({ tileSource: makeTileSource(state.pyramid), index: 0, replace: true,
      success: writeUrl });
  }

  // ---- start-up -------------------------------------------------------------------------------------

  function label(p) {
    const text = params.get('description') || p.tags.SeriesDescription || 'Whole-slide viewer';
    $('label').textContent = text;
    document.title = `${text} — whole-slide viewer`;
  }

  // WebGL draws tiles 1:1 at native resolution (the canvas drawer stretches each tile by a pixel to hide
  // seams), but WebGL emulated in software (no GPU: virtual machines, headless browsers) is about seven
  // times slower than the canvas drawer, so it is only chosen on a real GPU. ?drawer= overrides.
  function defaultDrawer() {
    try {
      const gl = document.createElement('canvas').getContext('webgl2');
      const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
      const renderer = gl ? String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : '';
      return gl && !/swiftshader|llvmpipe|softpipe|software/i.test(renderer) ? ['webgl', 'canvas'] : 'canvas';
    } catch (error) {
      return 'canvas';
    }
  }

  function createViewer(p) {
    const viewer = OSD({
      element: $('viewer'),
      prefixUrl: 'vendor/openseadragon/images/',
      drawer: params.get('drawer') || defaultDrawer(),
      tileSources: makeTileSource(p),
      showNavigator: true,
      navigatorPosition: 'BOTTOM_RIGHT',
      navigatorBackground: p.background,
      showRotationControl: true,
      maxZoomPixelRatio: 2,
      visibilityRatio: 0.5,
      crossOriginPolicy: false,
      gestureSettingsTouch: { pinchRotate: true },
      keyboardShortcuts: true,
    });
    $('viewer').style.background = p.background;
    return viewer;
  }

  function installControls(viewer) {
    const rotate = (degrees) => viewer.viewport.setRotation(viewer.viewport.getRotation() + degrees);
    $('rotate-left').addEventListener('click', () => rotate(-90));
    $('rotate-right').addEventListener('click', () => rotate(90));
    $('ruler-button').addEventListener('click', () => setRulerMode(!state.rulerMode));
    $('info-button').addEventListener('click', () => togglePanel($('info-button'), $('info-panel')));
    $('link-button').addEventListener('click', () => copyLink($('link-button')));
    document.addEventListener('keydown', (event) => {
      if (event.target.closest && event.target.closest('select, input, textarea') || event.ctrlKey ||
          event.metaKey || event.altKey) {
        return;
      }
      if (event.key === 'm' || event.key === 'M') {
        setRulerMode(!state.rulerMode);
      } else if (event.key === 'Escape') {
        setRulerMode(false);
      } else if (event.key === 'i' || event.key === 'I') {
        togglePanel($('info-button'), $('info-panel'));
      }
    });
  }

  function copyLink(button) {
    writeUrl();
    const done = (text) => { button.textContent = text; setTimeout(() => { button.textContent = 'Copy link'; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(window.location.href).then(() => done('Copied'), () => done('Copy refused'));
    } else {
      window.prompt('Link to this view:', window.location.href);
    }
  }

  function start(json) {
    const p = readPyramid(json, seriesId);
    state.pyramid = p;
    label(p);
    installPickers(p);
    fillInfo(p);
    const viewer = createViewer(p);
    state.viewer = viewer;
    installControls(viewer);
    installRuler(viewer);
    viewer.addHandler('open', () => {
      restoreView();
      updateScaleBar();
      showStatus('');
      document.body.dataset.state = 'open';
      viewer.canvas.focus(); // keyboard navigation works at once
      document.dispatchEvent(new CustomEvent('wsi:open', { detail: { viewer, pyramid: p } })); // annotations.js
    });
    // Tests and scripts can wait for data-loaded="true"; a new optical path or focal plane resets it.
    viewer.world.addHandler('add-item', (e) => {
      document.body.dataset.loaded = String(e.item.getFullyLoaded());
      e.item.addHandler('fully-loaded-change', (f) => { document.body.dataset.loaded = String(f.fullyLoaded); });
    });
    viewer.addHandler('open-failed', (e) => showStatus(`Cannot open the slide: ${e.message}`, true));
    viewer.addHandler('tile-load-failed', () => {
      state.failedTiles += 1;
      showStatus(`${state.failedTiles} tile(s) failed to load`, true);
    });
    viewer.addHandler('update-viewport', updateScaleBar);
    viewer.addHandler('animation-finish', writeUrl);
    viewer.addHandler('rotate', () => setTimeout(writeUrl, 0));
  }

  async function main() {
    if (!OSD) {
      showStatus('OpenSeadragon is missing: run the set-up (npm ci in webassets/).', true);
      return;
    }
    if (!seriesId) {
      showStatus('No series given: open viewer.html?series=<Orthanc series id>.', true);
      return;
    }
    showStatus('Loading…');
    let response;
    try {
      response = await fetch(`../pyramids/${encodeURIComponent(seriesId)}`, { headers: { Accept: 'application/json' } });
    } catch (error) {
      showStatus(`Cannot reach the server: ${error.message}`, true);
      return;
    }
    if (!response.ok) {
      showStatus(response.status === 404 ? `Series ${seriesId} is not a whole-slide image, or does not exist.`
        : `The server answered ${response.status} for the pyramid of series ${seriesId}.`, true);
      return;
    }
    start(await response.json());
  }

  main();
}
