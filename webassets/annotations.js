/* Annotation tools of the whole-slide viewer, on Annotorious for OpenSeadragon (webassets/vendor/annotorious).
 *
 * Annotorious draws, selects and edits rectangles, ellipses, polygons, lines and paths, and keeps the undo
 * history. This file adds what a slide needs: points and freehand outlines (drawn here, then handed to
 * Annotorious as circles and polygons), a label and a category on each annotation, measurements in µm from the
 * pixel spacing, layers (the annotation groups of every object) shown or hidden, keyboard shortcuts, and
 * loading and saving through the plugin's /wsi/annotations routes (DICOM Bulk Simple Annotations).
 * viewer.js announces the opened slide with a "wsi:open" event. */
import {
  featureToShape, formatMeasurements, measure, selectorToShape, shapeToSelector, thin,
} from './annotations-geometry.js';

{
  const $ = (id) => document.getElementById(id);
  const TOOLS = { // key -> [tool, Annotorious drawing tool or our own mode]
    v: ['select', null], p: ['point', 'own'], l: ['line', 'line'], b: ['rectangle', 'rectangle'],
    e: ['ellipse', 'ellipse'], g: ['polygon', 'polygon'], h: ['freehand', 'own'],
  };
  const FREEHAND_MIN_SCREEN_PX = 3;

  const state = {
    anno: null, viewer: null, pyramid: null, listing: null, tool: 'select', hidden: new Set(), props: new Map(),
    colours: new Map(), dirty: false, stroke: null, loadedMs: null, undo: [], redo: [], current: [],
    fastPoints: [], // read-only points, drawn on a canvas of their own (see drawFastPoints)
  };
  window.wsiAnnotations = state; // for the browser tests

  function say(text, isError) {
    const box = $('annotation-status');
    box.textContent = text;
    box.classList.toggle('error', Boolean(isError));
  }

  // ---- Annotorious annotations <-> plugin shapes -------------------------------------------------------

  let counter = 0;
  const newId = () => `a${Date.now().toString(36)}${(counter += 1).toString(36)}`;

  function makeAnnotation(shape, { label = '', category = '', layer = 'mine', readOnly = false } = {}) {
    const id = newId();
    const { selector, point } = shapeToSelector(shape);
    state.props.set(id, { point: Boolean(point), readOnly, layer });
    return {
      id, bodies: bodies(id, label, category), properties: { layer, readOnly, point: Boolean(point) },
      target: { annotation: id, selector },
    };
  }

  function bodies(id, label, category) {
    const out = [];
    if (category) out.push({ id: `${id}-c`, annotation: id, purpose: 'tagging', value: category });
    if (label) out.push({ id: `${id}-l`, annotation: id, purpose: 'commenting', value: label });
    return out;
  }

  const bodyValue = (a, purpose) => (a.bodies.find((b) => b.purpose === purpose) || {}).value || '';
  const propsOf = (a) => state.props.get(a.id) || a.properties || {};
  const shapeOf = (a) => selectorToShape(a.target.selector, propsOf(a).point);

  // ---- style, layers -------------------------------------------------------------------------------

  function style(a, s) {
    const colour = state.colours.get(bodyValue(a, 'tagging')) || '#ffd54a';
    const selected = s && s.selected;
    return { fill: colour, fillOpacity: propsOf(a).point ? 0.8 : 0.15, stroke: selected ? '#ffffff' : colour,
      strokeWidth: selected ? 3 : 2 };
  }

  function layerKey(a) {
    const p = propsOf(a);
    return p.layer === 'mine' ? `mine:${bodyValue(a, 'tagging') || '—'}` : p.layer;
  }

  function applyFilter() {
    state.anno.setFilter(state.hidden.size ? (a) => !state.hidden.has(layerKey(a)) : undefined);
    drawFastPoints();
  }

  // Read-only points (cells found by an algorithm: tens of thousands) are drawn here, not by Annotorious:
  // it keeps a scene object per annotation and walks them all on every frame, which measured 0.3 frames/s
  // while panning 10,000 points in headless chromium. This canvas maps them with the view's affine transform
  // (rotation included) and draws only those on screen.
  function drawFastPoints() {
    const canvas = $('point-layer');
    const item = state.viewer && state.viewer.world.getItemAt(0);
    if (!canvas || !item) return;
    const { clientWidth: w, clientHeight: h } = canvas;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (!state.fastPoints.length || !state.visible) return;
    const OSD = window.OpenSeadragon;
    const o = item.imageToViewerElementCoordinates(new OSD.Point(0, 0));
    const ex = item.imageToViewerElementCoordinates(new OSD.Point(1000, 0));
    const ey = item.imageToViewerElementCoordinates(new OSD.Point(0, 1000));
    const [ax, ay, bx, by] = [(ex.x - o.x) / 1000, (ex.y - o.y) / 1000, (ey.x - o.x) / 1000, (ey.y - o.y) / 1000];
    const r = Math.max(2, Math.min(6, 6 * Math.hypot(ax, ay)));
    let colour = null;
    for (const p of state.fastPoints) {
      if (state.hidden.has(p.layer)) continue;
      const x = o.x + p.x * ax + p.y * bx;
      const y = o.y + p.x * ay + p.y * by;
      if (x < -r || y < -r || x > w + r || y > h + r) continue;
      if (p.colour !== colour) { colour = p.colour; ctx.fillStyle = colour; }
      ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
    }
  }

  function renderLayers() {
    const list = $('annotation-layers');
    list.replaceChildren();
    const counts = new Map();
    for (const a of state.anno.getAnnotations()) {
      const key = layerKey(a);
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    for (const p of state.fastPoints) {
      counts.set(p.layer, (counts.get(p.layer) || 0) + 1);
    }
    for (const [key, count] of [...counts].sort()) {
      const item = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = !state.hidden.has(key);
      box.dataset.layer = key;
      box.addEventListener('change', () => {
        if (box.checked) state.hidden.delete(key); else state.hidden.add(key);
        applyFilter();
      });
      const name = key.startsWith('mine:') ? `Mine · ${key.slice(5)}` : key;
      item.append(box, ` ${name} (${count})`);
      list.append(item);
    }
  }

  // ---- tools -----------------------------------------------------------------------------------------

  function setTool(tool) {
    state.tool = tool;
    state.anno.cancelSelected();
    const entry = Object.values(TOOLS).find(([name]) => name === tool);
    const drawing = entry && entry[1] && entry[1] !== 'own';
    if (drawing) {
      state.anno.setDrawingTool(entry[1]);
    }
    state.anno.setDrawingEnabled(Boolean(drawing));
    document.querySelectorAll('#annotation-tools button[data-tool]').forEach((b) => {
      b.setAttribute('aria-pressed', String(b.dataset.tool === tool));
    });
    document.body.classList.toggle('annotating', tool !== 'select');
  }

  // Annotorious keeps a shape just drawn selected for editing and reports it (createAnnotation) only once it
  // is deselected, so the next drag would merely deselect it. Cells are outlined one after another: a shape
  // is taken over as soon as it is drawn (replaced by one of ours, with category and label, unselected, in
  // our history); V selects to edit.
  function takeOverDrawn(event) {
    for (const drawn of event.changes.created || []) {
      if (state.props.has(drawn.id)) continue; // ours, added through the API
      state.props.set(drawn.id, { transient: true });
      setTimeout(() => { // after Annotorious has selected it
        const shape = selectorToShape(drawn.target.selector, false);
        state.anno.cancelSelected();
        state.anno.removeAnnotation(drawn.id);
        state.props.delete(drawn.id);
        if (shape) addShape(shape);
      }, 0);
    }
  }

  // ---- history (undo / redo) ------------------------------------------------------------------------
  // Our own: shapes are added through the API (points, freehand, taken-over drawings), which Annotorious'
  // undo stack does not record. A snapshot is the editable annotations as plain shapes.

  function snapshot() {
    return state.anno.getAnnotations().filter((a) => !propsOf(a).readOnly).map((a) => ({
      shape: shapeOf(a), label: bodyValue(a, 'commenting'), category: bodyValue(a, 'tagging') }));
  }

  function record() {
    state.undo.push(state.current);
    if (state.undo.length > 200) state.undo.shift();
    state.redo = [];
    state.current = snapshot();
  }

  function restore(shapes) {
    const kept = state.anno.getAnnotations().filter((a) => propsOf(a).readOnly);
    const made = shapes.filter((s) => s.shape).map((s) => makeAnnotation(s.shape, s));
    state.anno.cancelSelected();
    state.anno.setAnnotations([...kept, ...made], true);
    state.current = shapes;
    state.dirty = true;
    $('annotation-save').disabled = false;
    renderLayers();
  }

  function undo() {
    if (!state.undo.length) return;
    state.redo.push(state.current);
    restore(state.undo.pop());
  }

  function redo() {
    if (!state.redo.length) return;
    state.undo.push(state.current);
    restore(state.redo.pop());
  }

  function currentCategory() {
    return $('annotation-category').value;
  }

  function addShape(shape) {
    const a = makeAnnotation(shape, { category: currentCategory(), label: $('annotation-label').value.trim() });
    state.anno.addAnnotation(a);
    changed();
    return a;
  }

  function installOwnTools(viewer) {
    const toImage = (position) => {
      const p = viewer.world.getItemAt(0).viewerElementToImageCoordinates(position);
      return [p.x, p.y];
    };
    viewer.addHandler('canvas-click', (event) => {
      if (state.tool === 'point' && event.quick) {
        event.preventDefaultAction = true;
        addShape({ type: 'POINT', points: [toImage(event.position)] });
      }
    });
    viewer.addHandler('canvas-press', (event) => {
      if (state.tool === 'freehand') {
        state.stroke = [toImage(event.position)];
      }
    });
    viewer.addHandler('canvas-drag', (event) => {
      if (state.tool === 'freehand' && state.stroke) {
        event.preventDefaultAction = true; // draw instead of panning
        state.stroke.push(toImage(event.position));
        drawStroke();
      }
    });
    viewer.addHandler('canvas-release', () => {
      if (state.tool !== 'freehand' || !state.stroke) return;
      const zoom = viewer.world.getItemAt(0).viewportToImageZoom(viewer.viewport.getZoom(true));
      const points = thin(state.stroke, FREEHAND_MIN_SCREEN_PX / zoom);
      state.stroke = null;
      drawStroke();
      if (points.length >= 3) {
        addShape({ type: 'POLYGON', points });
      }
    });
    viewer.addHandler('update-viewport', drawStroke);
  }

  function drawStroke() {
    const line = $('freehand-stroke');
    if (!state.stroke) {
      line.setAttribute('points', '');
      return;
    }
    const item = state.viewer.world.getItemAt(0);
    const OSD = window.OpenSeadragon;
    line.setAttribute('points', state.stroke.map(([x, y]) => {
      const p = item.imageToViewerElementCoordinates(new OSD.Point(x, y));
      return `${p.x},${p.y}`;
    }).join(' '));
  }

  // ---- selection panel ---------------------------------------------------------------------------------

  function showSelection(selected) {
    const panel = $('annotation-selected');
    const a = selected[0];
    if (!a) {
      panel.hidden = true;
      return;
    }
    const props = propsOf(a);
    panel.hidden = false;
    panel.dataset.id = a.id;
    $('selected-label').value = bodyValue(a, 'commenting');
    $('selected-category').value = bodyValue(a, 'tagging');
    $('selected-label').disabled = $('selected-category').disabled = $('selected-delete').disabled = props.readOnly;
    const shape = shapeOf(a);
    const m = shape ? measure(shape, state.pyramid.spacingMm) : {};
    const text = formatMeasurements(m);
    $('selected-measure').textContent = `${shape ? shape.type.toLowerCase() : ''}${text ? `: ${text}` : ''}` +
      (props.readOnly ? ' (read-only)' : '');
    const out = $('selected-measure').dataset;
    out.lengthUm = m.lengthUm ?? '';
    out.areaUm2 = m.areaUm2 ?? '';
    out.perimeterUm = m.perimeterUm ?? '';
  }

  function editSelected() {
    const id = $('annotation-selected').dataset.id;
    const a = state.anno.getAnnotationById(id);
    if (!a || propsOf(a).readOnly) return;
    state.anno.updateAnnotation({ ...a, bodies: bodies(id, $('selected-label').value.trim(),
      $('selected-category').value) });
    changed();
  }

  function deleteSelected() {
    for (const a of state.anno.getSelected()) {
      if (!propsOf(a).readOnly) {
        state.anno.removeAnnotation(a.id);
      }
    }
    $('annotation-selected').hidden = true;
    changed();
  }

  function changed() {
    record();
    state.dirty = true;
    $('annotation-save').disabled = false;
    renderLayers();
  }

  // ---- loading and saving -------------------------------------------------------------------------------

  const base = () => `../annotations/${encodeURIComponent(state.pyramid.id)}`;

  async function loadObject(entry, editable) {
    const response = await fetch(`${base()}/${encodeURIComponent(entry.ID)}`);
    if (!response.ok) throw new Error(`object ${entry.ID}: ${response.status}`);
    const collection = await response.json();
    const layerName = (f) => `${entry.Kind}${entry.Creator ? ` by ${entry.Creator}` : ''} · ${f.properties.layer}`;
    const out = [];
    for (const f of collection.features) {
      const shape = featureToShape(f);
      if (!editable && shape.type === 'POINT') {
        state.fastPoints.push({ x: shape.points[0][0], y: shape.points[0][1], layer: layerName(f),
          colour: state.colours.get(f.properties.category) || '#ffd54a' });
        continue;
      }
      out.push(makeAnnotation(shape, { label: f.properties.label, category: f.properties.category,
        layer: editable ? 'mine' : layerName(f), readOnly: !editable }));
    }
    return out;
  }

  async function load() {
    const started = performance.now();
    const response = await fetch(base(), { headers: { Accept: 'application/json' } });
    if (!response.ok) {
      say(`Annotations unavailable (${response.status})`, true);
      return;
    }
    state.listing = await response.json();
    state.fastPoints = [];
    fillCategories(state.listing.Categories);
    const all = [];
    for (const entry of state.listing.Objects) {
      const mine = entry.ID === state.listing.Latest;
      if (entry.Ours && !mine) continue; // older saves of ours: history, listed but not drawn
      all.push(...await loadObject(entry, mine));
    }
    state.anno.setAnnotations(all, true);
    drawFastPoints();
    state.loadedMs = performance.now() - started;
    state.current = snapshot();
    state.undo = [];
    state.redo = [];
    state.dirty = false;
    $('annotation-save').disabled = true;
    renderLayers();
    const saves = state.listing.Objects.filter((o) => o.Ours).length;
    say(`${all.length} annotation(s) from ${state.listing.Objects.length} object(s)` +
      (saves > 1 ? `; ${saves} saves kept, the latest shown` : ''));
    document.body.dataset.annotations = 'loaded';
  }

  async function save() {
    const annotations = [];
    for (const a of state.anno.getAnnotations()) {
      const props = propsOf(a);
      const shape = shapeOf(a);
      if (props.readOnly || !shape) continue;
      annotations.push({ ...shape, label: bodyValue(a, 'commenting'), category: bodyValue(a, 'tagging') });
    }
    if (!annotations.length) {
      say('Nothing to save', true);
      return;
    }
    say('Saving…');
    const response = await fetch(base(), { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ annotations }) });
    const text = await response.text();
    if (!response.ok) {
      say(`Not saved: ${text.trim()}`, true);
      return;
    }
    const answer = JSON.parse(text);
    state.dirty = false;
    $('annotation-save').disabled = true;
    say(`Saved ${answer.Count} annotation(s) as instance ${answer.InstanceNumber}`);
    document.body.dataset.saved = answer.ID;
  }

  function fillCategories(categories) {
    for (const select of [$('annotation-category'), $('selected-category')]) {
      select.replaceChildren(new Option('(none)', ''));
      for (const c of categories) {
        select.add(new Option(c.label, c.label));
        state.colours.set(c.label, c.colour);
      }
    }
  }

  // ---- keyboard ----------------------------------------------------------------------------------------

  function onKey(event) {
    if (event.target.closest && event.target.closest('input, select, textarea')) return;
    // Only while the panel is open: closed, the keys are the viewer's (e.g. `l`, window/level of grey frames).
    if ($('annotation-panel').hidden) return;
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === 's') {
      event.preventDefault();
      save();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && key === 'y') {
      event.preventDefault();
      event.stopPropagation();
      redo();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && key === 'z') {
      event.preventDefault();
      event.stopPropagation();
      if (event.shiftKey) redo(); else undo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (key === 'delete' || key === 'backspace') {
      deleteSelected();
    } else if (key === 'escape') {
      state.anno.cancelSelected();
      setTool('select');
    } else if (TOOLS[key] && !event.shiftKey) {
      event.stopPropagation(); // not OpenSeadragon's own shortcut
      setTool(TOOLS[key][0]);
    } else {
      return;
    }
    event.preventDefault();
  }

  // ---- start ---------------------------------------------------------------------------------------------

  function start({ viewer, pyramid }) {
    const A = window.AnnotoriousOSD;
    if (!A) {
      say('Annotation library missing (run the set-up: npm ci in webassets/)', true);
      return;
    }
    state.viewer = viewer;
    state.pyramid = pyramid;
    state.anno = A.createOSDAnnotator(viewer, { drawingEnabled: false, drawingMode: 'drag', style,
      userSelectAction: (a) => (propsOf(a).readOnly ? 'SELECT' : 'EDIT') });
    if (window.AnnotoriousTools) {
      window.AnnotoriousTools.mountPlugin(state.anno);
    }
    state.anno.on('updateAnnotation', (a) => { // moved or reshaped by the user
      if (!propsOf(a).transient) changed();
    });
    state.anno.on('selectionChanged', showSelection);
    installOwnTools(viewer);
    state.visible = true;
    viewer.addHandler('update-viewport', drawFastPoints);
    viewer.addHandler('resize', drawFastPoints);
    state.anno.state.store.observe(takeOverDrawn, { origin: 'LOCAL' });
    document.querySelectorAll('#annotation-tools button[data-tool]').forEach((b) => {
      b.addEventListener('click', () => setTool(b.dataset.tool));
    });
    $('annotation-undo').addEventListener('click', undo);
    $('annotation-save').addEventListener('click', save);
    $('selected-label').addEventListener('change', editSelected);
    $('selected-category').addEventListener('change', editSelected);
    $('selected-delete').addEventListener('click', deleteSelected);
    $('annotations-button').addEventListener('click', () => {
      const panel = $('annotation-panel');
      panel.hidden = !panel.hidden;
      $('annotations-button').setAttribute('aria-pressed', String(!panel.hidden));
      // A click selects an annotation while annotating; it zooms in otherwise (OpenSeadragon's default).
      viewer.gestureSettingsMouse.clickToZoom = panel.hidden;
    });
    document.addEventListener('keydown', onKey, true);
    window.addEventListener('beforeunload', (event) => {
      if (state.dirty) event.preventDefault();
    });
    load().catch((error) => say(`Annotations not loaded: ${error.message}`, true));
  }

  document.addEventListener('wsi:open', (event) => start(event.detail), { once: true });
}
