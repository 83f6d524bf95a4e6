// Unit tests of webassets/viewer-geometry.js, run by `node --test` (tests/unit/test_viewer_geometry_js.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  formatLength, linkedView, niceLength, readPyramid, rulerLengthUm, scaleBar, tileGeometry, tileQuery, viewQuery,
} from '../../webassets/viewer-geometry.js';

// 1100 x 700, 256 px tiles, levels 1:1 and 1:3 (non-power-of-two: 367 x 234).
const JSON_PYRAMID = {
  ID: 'series-1', TotalWidth: 1100, TotalHeight: 700, TileWidth: 256, TileHeight: 256,
  Sizes: [[1100, 700], [367, 234]], TilesCount: [[5, 3], [2, 1]], PixelSpacings: [[0.0005, 0.00025], null],
  OpticalPaths: [{ ID: '1', Description: 'brightfield' }, '2'], FocalPlanes: [0, 1], BackgroundColor: 'red',
};

test('readPyramid: per-axis downsample, optical paths, spacing, safe background', () => {
  const p = readPyramid(JSON_PYRAMID, 'fallback');
  assert.equal(p.id, 'series-1');
  assert.deepEqual([p.levels[1].scaleX, p.levels[1].scaleY], [1100 / 367, 700 / 234]);
  assert.deepEqual(p.opticalPaths, [{ id: '1', label: '1 — brightfield' }, { id: '2', label: '2' }]);
  assert.equal(p.defaultOpticalPath, '1');
  assert.deepEqual(p.spacingMm, [0.0005, 0.00025]);
  assert.equal(p.background, '#ffffff'); // only #rrggbb is taken
  assert.equal(readPyramid({ ...JSON_PYRAMID, ID: undefined }, 'fallback').id, 'fallback');
  const fromVolume = readPyramid({ ...JSON_PYRAMID, PixelSpacings: undefined, ImagedVolumeWidth: 0.55,
    ImagedVolumeHeight: 0.35 });
  assert.deepEqual(fromVolume.spacingMm, [0.0005, 0.0005]);
});

test('tileQuery names only what there is more than one of', () => {
  const p = readPyramid(JSON_PYRAMID);
  assert.equal(tileQuery(p, '2', 1), '?optical-path=2&focal-plane=1');
  assert.equal(tileQuery({ ...p, opticalPaths: [p.opticalPaths[0]], focalPlanes: [0] }, '1', 0), '');
});

test('tileGeometry: OpenSeadragon levels count the other way; edge tiles keep their true size', () => {
  const g = tileGeometry(readPyramid(JSON_PYRAMID), '?q');
  assert.equal(g.levels, 2);
  assert.deepEqual(g.numTiles(1), { x: 5, y: 3 }); // OSD's highest level is the full image
  assert.deepEqual(g.numTiles(0), { x: 2, y: 1 });
  assert.equal(g.tileUrl(1, 4, 2), '../tiles/series-1/0/4/2?q');
  assert.equal(g.tileUrl(0, 1, 0), '../tiles/series-1/1/1/0?q');
  assert.deepEqual(g.tileBounds(1, 4, 2, true), { x: 0, y: 0, width: 1100 - 1024, height: 700 - 512 });
  const world = g.tileBounds(1, 4, 2, false);
  assert.ok(Math.abs(world.x + world.width - 1) < 1e-12); // the last tile ends at the image's right edge
  const coarse = g.tileBounds(0, 1, 0, false);
  assert.ok(Math.abs(coarse.x + coarse.width - 1) < 1e-12 && Math.abs(coarse.height - 700 / 1100) < 1e-12);
  assert.deepEqual(g.tileAtPoint(1, { x: 0.999, y: 0.63 }), { x: 4, y: 2 });
  assert.deepEqual(g.tileAtPoint(1, { x: 5, y: -1 }), { x: 4, y: 0 }); // clamped to the grid
  assert.equal(g.tileExists(1, 4, 2), true);
  assert.equal(g.tileExists(1, 5, 0), false);
  assert.equal(g.tileExists(2, 0, 0), false);
  assert.equal(g.levelScale(1), 1);
});

test('deep links round-trip and refuse what is not a finite number', () => {
  const text = viewQuery('?series=s&x=1', { x: 10.04, y: 20, zoom: 0.123456, rotation: -90 },
    [['optical-path', true, '2'], ['focal-plane', false, 0]]);
  const params = new URLSearchParams(text);
  assert.deepEqual(Object.fromEntries(params), { series: 's', x: '10.0', y: '20.0', zoom: '0.12346',
    rotation: '270', 'optical-path': '2' });
  assert.deepEqual(linkedView(params), { x: 10, y: 20, zoom: 0.12346, rotation: 270 });
  const odd = new URLSearchParams('x=Infinity&y=NaN&zoom=-2&rotation=abc');
  assert.deepEqual(linkedView(odd), { x: null, y: null, zoom: null, rotation: null });
});

test('lengths: 1-2-5 steps, readable units, scale bar and ruler', () => {
  assert.deepEqual([niceLength(7), niceLength(19.9), niceLength(0.3), niceLength(1000)], [5, 10, 0.2, 1000]);
  assert.deepEqual([formatLength(250), formatLength(12.345), formatLength(1500), formatLength(12345)],
    ['250 µm', '12.3 µm', '1.5 mm', '12.35 mm']);
  const bar = scaleBar([0.0005, 0.0005], 0.5, 120); // 1 µm per screen pixel
  assert.deepEqual(bar, { um: 100, widthPx: 100 });
  assert.equal(rulerLengthUm([0.0005, 0.00025], { x: 0, y: 0 }, { x: 3, y: 8 }), Math.hypot(1.5, 2));
  assert.equal(rulerLengthUm(null, { x: 0, y: 0 }, { x: 3, y: 4 }), null);
});
