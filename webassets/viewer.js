/* Whole-slide and deep-zoom viewer: OpenSeadragon over the plugin's /wsi/pyramids and /wsi/tiles routes (a
 * whole-slide series) or /wsi/frames-pyramids and /wsi/frames-tiles (any frame of any instance), as an ES
 * module; the arithmetic is in viewer-geometry.js.
 *
 * It knows nothing about DICOM beyond the pyramid JSON.
 * Deep link: ?series=ID or ?instance=ID&frame=N, then [&description=..][&x=..&y=..&zoom=..&rotation=..]
 * [&optical-path=..&focal-plane=..][&frame-index=..][&window=CENTER,WIDTH], with the centre (x, y) in
 * full-resolution pixels and zoom as screen pixels per full-resolution pixel. A series that is not a
 * whole-slide image is shown frame by frame (/wsi/series-frames) with a slider. */
import {
  dragWindow, formatLength, formatWindow, linkedFrameIndex, linkedView, parseWindow, readPyramid,
  readSeriesFrames, rulerLengthUm, sameWindow, scaleBar, stepFrame, tileBase, tileGeometry, tileQuery,
  viewerTarget, viewQuery, windowQuery, windowText,
} from './viewer-geometry.js';
import { tileLoader, tileUrls } from './direct-frames.js';

{

  const OSD = window.OpenSeadragon;
  const params = new URLSearchParams(window.location.search);
  const target = viewerTarget(params);
  const $ = (id) => document.getElementById(id);
  const SCALE_BAR_TARGET_PX = 120;
  const TAGS_SHOWN = ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime',
    'StudyDescription', 'AccessionNumber', 'StudyID', 'SeriesDescription', 'SeriesNumber', 'SeriesDate',
    'Modality', 'Manufacturer', 'BodyPartExamined', 'ContainerIdentifier'];

  const WINDOW_DEBOUNCE_MS = 150;
  const FRAME_DEBOUNCE_MS = 120;

  // source: {kind: 'series', series} (whole slide) or {kind: 'frame', instance, frame}; frames: the frames
  // the slider walks through (one for ?instance=); window: the grey window the tiles are asked with.
  const state = { viewer: null, pyramid: null, source: null, opticalPath: null, focalPlane: null, ruler: null,
    rulerMode: false, failedTiles: 0, frames: [], frameIndex: 0, window: null, windowChanged: false,
    windowMode: false, windowDrag: null, swaps: 0, pyramids: new Map(), tags: {}, json: {} };
  window.wsiViewer = state; // for the browser tests and the curious

  function showStatus(message, isError) {
    const status = $('status');
    status.textContent = message;
    status.hidden = !message;
    status.classList.toggle('error', Boolean(isError));
  }


  // ---- tile source ------------------------------------------------------------------------------

  function currentTileQuery() {
    return state.source.kind === 'frame' ? windowQuery(state.pyramid, state.window)
      : tileQuery(state.pyramid, state.opticalPath, state.focalPlane);
  }

  function makeTileSource(pyramid) {
    const g = tileGeometry(pyramid, currentTileQuery(), tileBase(state.source));
    // Stored frames straight from Orthanc, the rest from /wsi/tiles, all versioned (direct-frames.js);
    // ?direct=0 fetches every tile through /wsi/tiles. A frame of another series has no map and no version.
    const json = params.get('direct') === '0' ? { ...state.json, FrameMap: [] } : state.json;
    const urls = tileUrls(json, pyramid.opticalPaths.findIndex((o) => o.id === state.opticalPath),
      state.focalPlane, g.tileUrl);
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
      getTileUrl: urls.url,
      ...tileLoader(urls.fallback),
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
      ['focal-plane', state.pyramid.focalPlanes.length > 1, state.focalPlane],
      ['frame-index', state.frames.length > 1, state.frameIndex],
      ['window', state.pyramid.grey && state.windowChanged && state.window, state.window && windowText(state.window)]]);
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
    if (on) {
      setWindowMode(false);
    }
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
    for (const id of ['slide-facts', 'associated', 'tags']) {
      $(id).replaceChildren();
    }
    $('levels').tBodies[0].replaceChildren();
    const facts = $('slide-facts');
    if (state.source.kind === 'frame') {
      addFact(facts, 'Instance', state.source.instance);
      addFact(facts, 'Frame', String(state.source.frame));
      addFact(facts, 'Grey levels', p.grey ? `yes, file's window ${formatWindow(p.window)}` : 'no (colour)');
    }
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
    const known = state.source.kind === 'frame' ? state.tags : p.tags;
    for (const name of TAGS_SHOWN) {
      if (known[name]) {
        addFact(tags, name.replace(/([a-z])([A-Z])/g, '$1 $2'), formatTag(name, known[name]));
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

  /** New tiles (another window or frame) over the old ones, which go once the new view is complete: no
   * blank flash while they load. `data-tiles` names the tiles on screen, for tests and scripts. */
  function swapTiles() {
    const token = ++state.swaps;
    const world = state.viewer.world;
    const key = tileBase(state.source) + currentTileQuery();
    state.viewer.addTiledImage({ tileSource: makeTileSource(state.pyramid), index: world.getItemCount(),
      success: (event) => {
        const done = () => {
          if (token !== state.swaps) {
            return;
          }
          for (let i = world.getItemCount() - 1; i >= 0; i--) {
            if (world.getItemAt(i) !== event.item) {
              world.removeItem(world.getItemAt(i));
            }
          }
          document.body.dataset.tiles = key;
        };
        if (event.item.getFullyLoaded()) {
          done();
        } else {
          event.item.addOnceHandler('fully-loaded-change', done);
        }
        writeUrl();
      } });
  }

  // ---- window / level (grey frames) ------------------------------------------------------------------

  function showWindow() {
    $('window-readout').textContent = formatWindow(state.window);
    $('window-readout').dataset.center = state.window ? String(state.window.center) : '';
    $('window-readout').dataset.width = state.window ? String(state.window.width) : '';
    $('window-preset').value = '';
  }

  /** Show the frame with `window`; tiles are asked again once the window has stopped changing. */
  function setWindow(window, delayMs = WINDOW_DEBOUNCE_MS) {
    if (!window || sameWindow(window, state.window)) {
      return;
    }
    state.window = window;
    state.windowChanged = !sameWindow(window, state.pyramid.window);
    showWindow();
    clearTimeout(state.windowTimer);
    state.windowTimer = setTimeout(swapTiles, delayMs);
  }

  function setWindowMode(on) {
    state.windowMode = on && state.pyramid.grey;
    $('window-button').setAttribute('aria-pressed', String(state.windowMode));
    document.body.classList.toggle('windowing', state.windowMode);
    if (state.windowMode) {
      setRulerMode(false);
    }
  }

  function fillWindowControls(p) {
    $('window-controls').hidden = !p.grey;
    const select = $('window-preset');
    select.replaceChildren(new Option('Presets', '', true, true));
    p.presets.forEach((preset, i) => {
      select.add(new Option(`${i < 9 ? `${i + 1}: ` : ''}${preset.name} (${formatWindow(preset.window)})`,
        String(i)));
    });
    select.hidden = !p.presets.length;
    showWindow();
  }

  function applyPreset(i) {
    const preset = state.pyramid.presets[i];
    if (preset) {
      setWindow(preset.window, 0);
    }
  }

  /** Right-button drag anywhere, or left-button drag in W/L mode, changes the window: captured before
   * OpenSeadragon sees the press, so the slide does not pan meanwhile. */
  function installWindowing() {
    const element = $('viewer');
    element.addEventListener('contextmenu', (event) => {
      if (state.pyramid.grey) {
        event.preventDefault();
      }
    });
    element.addEventListener('pointerdown', (event) => {
      const wanted = event.button === 2 || (event.button === 0 && state.windowMode);
      if (!state.pyramid.grey || !wanted || !state.window) {
        return;
      }
      state.windowDrag = { x: event.clientX, y: event.clientY, start: state.window, pointer: event.pointerId };
      element.setPointerCapture(event.pointerId);
      event.preventDefault();
      event.stopPropagation();
    }, true);
    element.addEventListener('pointermove', (event) => {
      const drag = state.windowDrag;
      if (drag && event.pointerId === drag.pointer) {
        setWindow(dragWindow(drag.start, event.clientX - drag.x, event.clientY - drag.y));
        event.stopPropagation();
      }
    }, true);
    const end = (event) => {
      if (state.windowDrag && event.pointerId === state.windowDrag.pointer) {
        state.windowDrag = null;
        event.stopPropagation();
      }
    };
    element.addEventListener('pointerup', end, true);
    element.addEventListener('pointercancel', end, true);
    $('window-button').addEventListener('click', () => setWindowMode(!state.windowMode));
    $('window-reset').addEventListener('click', () => setWindow(state.pyramid.window, 0));
    $('window-preset').addEventListener('change', (event) => {
      if (event.target.value !== '') {
        applyPreset(parseInt(event.target.value, 10));
        event.target.blur(); // keys go back to the slide
      }
    });
  }

  // ---- frames of a series -------------------------------------------------------------------------

  async function framePyramid(frame) {
    const key = `${frame.instance}/${frame.frame}`;
    if (!state.pyramids.has(key)) {
      const url = `../frames-pyramids/${encodeURIComponent(frame.instance)}/${frame.frame}`;
      const response = await fetch(url, { headers: { Accept: 'application/json' } });
      if (!response.ok) {
        throw new Error(`the server answered ${response.status} for frame ${frame.frame} of instance ${frame.instance}`);
      }
      state.pyramids.set(key, readPyramid(await response.json(), frame.instance));
    }
    return state.pyramids.get(key);
  }

  function showFrameIndex(index) {
    $('frame-slider').value = String(index);
    $('frame-readout').textContent = `${index + 1} / ${state.frames.length}`;
  }

  /** Show frame `index` of the series; a window the user chose is kept, else the new frame's default. */
  async function goToFrame(index) {
    const frame = state.frames[index];
    let p;
    try {
      p = await framePyramid(frame);
    } catch (error) {
      showStatus(`Cannot open the frame: ${error.message}`, true);
      return;
    }
    if (index !== state.pendingFrame) {
      return; // the user has moved on meanwhile
    }
    const resized = p.width !== state.pyramid.width || p.height !== state.pyramid.height;
    state.frameIndex = index;
    state.source = { kind: 'frame', instance: frame.instance, frame: frame.frame };
    state.pyramid = p;
    if (!p.grey || !state.windowChanged || !state.window) {
      state.window = p.window;
      state.windowChanged = false;
    }
    fillWindowControls(p);
    setWindowMode(state.windowMode);
    fillInfo(p);
    document.body.dataset.frameIndex = String(index);
    if (resized) {
      state.viewer.open(makeTileSource(p));
    } else {
      swapTiles();
    }
  }

  function requestFrame(index) {
    if (index === null || index === state.pendingFrame) {
      return;
    }
    state.pendingFrame = index;
    showFrameIndex(index);
    clearTimeout(state.frameTimer);
    state.frameTimer = setTimeout(() => goToFrame(index), FRAME_DEBOUNCE_MS);
  }

  function installFrameSlider() {
    const slider = $('frame-slider');
    slider.max = String(state.frames.length - 1);
    $('frame-picker').hidden = state.frames.length < 2;
    showFrameIndex(state.frameIndex);
    state.pendingFrame = state.frameIndex;
    slider.addEventListener('input', () => requestFrame(parseInt(slider.value, 10)));
  }

  // ---- start-up -------------------------------------------------------------------------------------

  function label(p) {
    const frame = state.source.kind === 'frame';
    const fallback = frame ? `Frame ${state.source.frame} of instance ${state.source.instance}` : 'Whole-slide viewer';
    const known = frame ? state.tags : p.tags;
    const text = params.get('description') || known.SeriesDescription || fallback;
    $('label').textContent = text;
    document.title = `${text} — ${frame ? 'deep zoom' : 'whole-slide viewer'}`;
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
      const frame = state.frames.length > 1 ? stepFrame(event.key, state.pendingFrame, state.frames.length) : null;
      if (frame !== null) {
        event.preventDefault();
        requestFrame(frame);
      } else if (event.key === 'm' || event.key === 'M') {
        setRulerMode(!state.rulerMode);
        setWindowMode(false);
      } else if (event.key === 'Escape') {
        setRulerMode(false);
        setWindowMode(false);
      } else if (event.key === 'i' || event.key === 'I') {
        togglePanel($('info-button'), $('info-panel'));
      } else if (state.pyramid.grey && (event.key === 'l' || event.key === 'L')) {
        setWindowMode(!state.windowMode);
      } else if (state.pyramid.grey && /^[1-9]$/.test(event.key)) {
        applyPreset(parseInt(event.key, 10) - 1);
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

  function start(p) {
    state.pyramid = p;
    label(p);
    installPickers(p);
    if (state.source.kind === 'frame') {
      const linked = parseWindow(params.get('window'));
      state.window = p.grey ? (linked || p.window) : null;
      state.windowChanged = Boolean(p.grey && linked && !sameWindow(linked, p.window));
      fillWindowControls(p);
      installFrameSlider();
      document.body.dataset.frameIndex = String(state.frameIndex);
    }
    fillInfo(p);
    const viewer = createViewer(p);
    state.viewer = viewer;
    installControls(viewer);
    installRuler(viewer);
    installWindowing();
    let opened = false;
    viewer.addHandler('open', () => {
      if (!opened) {
        restoreView(); // only the first time: a frame of another size opens at its full view
        opened = true;
      }
      updateScaleBar();
      showStatus('');
      document.body.dataset.state = 'open';
      document.body.dataset.tiles = tileBase(state.source) + currentTileQuery();
      viewer.canvas.focus(); // keyboard navigation works at once
      document.dispatchEvent(new CustomEvent('wsi:open', { detail: { viewer, pyramid: p } })); // annotations.js
    });
    // Tests and scripts can wait for data-loaded="true"; a new optical path or focal plane resets it.
    viewer.world.addHandler('add-item', (e) => {
      document.body.dataset.loaded = String(e.item.getFullyLoaded());
      e.item.addHandler('fully-loaded-change', (f) => { document.body.dataset.loaded = String(f.fullyLoaded); });
    });
    viewer.addHandler('open-failed', (e) => showStatus(`Cannot open the image: ${e.message}`, true));
    viewer.addHandler('tile-load-failed', () => {
      state.failedTiles += 1;
      showStatus(`${state.failedTiles} tile(s) failed to load`, true);
    });
    viewer.addHandler('update-viewport', updateScaleBar);
    viewer.addHandler('animation-finish', writeUrl);
    viewer.addHandler('rotate', () => setTimeout(writeUrl, 0));
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: 'application/json' } });
  }

  /** A whole-slide series opens as today; any other series opens frame by frame. */
  async function openSeries(seriesId) {
    const id = encodeURIComponent(seriesId);
    const response = await getJson(`../pyramids/${id}`);
    if (response.ok) {
      state.source = { kind: 'series', series: seriesId };
      state.json = await response.json(); // its FrameMap and Version (direct-frames.js)
      start(readPyramid(state.json, seriesId));
      return;
    }
    if (response.status !== 404) {
      showStatus(`The server answered ${response.status} for the pyramid of series ${seriesId}.`, true);
      return;
    }
    const frames = await getJson(`../series-frames/${id}`);
    const list = frames.ok ? readSeriesFrames(await frames.json()) : [];
    if (!list.length) {
      showStatus(frames.ok || frames.status === 404
        ? `Series ${seriesId} does not exist, or has no image to show.`
        : `The server answered ${frames.status} for the frames of series ${seriesId}.`, true);
      return;
    }
    await openFrames(list, linkedFrameIndex(params, list.length));
  }

  /** Patient, study and series main tags of an instance, from Orthanc's own index (no file is read); {} when
   * Orthanc will not say (the label and the info panel then do without). */
  async function instanceTags(instance) {
    const base = `../../instances/${encodeURIComponent(instance)}`;
    try {
      const [study, series] = await Promise.all([getJson(`${base}/study`), getJson(`${base}/series`)]);
      if (!study.ok || !series.ok) {
        return {};
      }
      const [s, r] = [await study.json(), await series.json()];
      return Object.assign({}, s.PatientMainDicomTags, s.MainDicomTags, r.MainDicomTags);
    } catch (error) {
      return {};
    }
  }

  async function openFrames(frames, index) {
    state.frames = frames;
    state.frameIndex = index;
    state.source = { kind: 'frame', instance: frames[index].instance, frame: frames[index].frame };
    let p;
    let tags;
    try {
      [p, tags] = await Promise.all([framePyramid(frames[index]), instanceTags(frames[index].instance)]);
    } catch (error) {
      showStatus(`Cannot open the frame: ${error.message}`, true);
      return;
    }
    state.tags = tags;
    state.json = {};
    start(p);
  }

  async function main() {
    if (!OSD) {
      showStatus('OpenSeadragon is missing: run the set-up (npm ci in webassets/).', true);
      return;
    }
    if (!target) {
      showStatus('Nothing to show: open viewer.html?series=<series id> or ?instance=<instance id>&frame=<n>.',
        true);
      return;
    }
    showStatus('Loading…');
    try {
      if (target.kind === 'frame') {
        await openFrames([{ instance: target.instance, frame: target.frame }], 0);
      } else {
        await openSeries(target.series);
      }
    } catch (error) {
      showStatus(`Cannot reach the server: ${error.message}`, true);
    }
  }

  main();
}
