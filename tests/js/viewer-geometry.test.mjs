// Unit tests of webassets/viewer-geometry.js, run by `node --test` (tests/unit/test_viewer_geometry_js.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  dragWindow, formatLength, formatWindow, linkedFrameIndex, linkedView, niceLength, parseWindow, readPyramid,
  readSeriesFrames, readWindow, roundWindowValue, rulerLengthUm, sameWindow, scaleBar, stepFrame, tileBase,
  tileGeometry, tileQuery, viewerTarget, viewQuery, windowQuery, windowText,
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

// A grey frame as /wsi/frames-pyramids answers it (C++ plugin 3.2 keys plus Grey, Window, Presets).
const FRAME_PYRAMID = {
  ID: 'instance-1', FrameNumber: 2, TotalWidth: 4000, TotalHeight: 5000, Resolutions: [1, 2],
  Sizes: [[4000, 5000], [2000, 2500]], TilesCount: [[8, 10], [4, 5]], TilesSizes: [[512, 512], [512, 512]],
  BackgroundColor: '#000000', Grey: true, Window: { Center: 2048, Width: 4096 },
  Presets: [{ Name: 'Soft', Center: 40, Width: 400 }, { Name: 'Broken', Center: 1, Width: 0 }, { Center: 1, Width: 2 }],
};

test('viewerTarget: a frame of an instance, a series, or nothing usable', () => {
  const target = (text) => viewerTarget(new URLSearchParams(text));
  assert.deepEqual(target('instance=abc&frame=3'), { kind: 'frame', instance: 'abc', frame: 3 });
  assert.deepEqual(target('instance=abc'), { kind: 'frame', instance: 'abc', frame: 0 });
  assert.deepEqual(target('series=s1'), { kind: 'series', series: 's1' });
  assert.equal(target('instance=abc&frame=-1'), null);
  assert.equal(target('instance=abc&frame=1.5'), null);
  assert.equal(target(''), null);
});

test('readPyramid of a frame: grey, the file window, only valid presets, black background, tiles per frame', () => {
  const p = readPyramid(FRAME_PYRAMID, 'fallback');
  assert.equal(p.frameNumber, 2);
  assert.equal(p.grey, true);
  assert.deepEqual(p.window, { center: 2048, width: 4096 });
  assert.deepEqual(p.presets, [{ name: 'Soft', window: { center: 40, width: 400 } }]);
  assert.equal(p.background, '#000000');
  assert.deepEqual([p.levels[1].tileWidth, p.levels[1].scaleX], [512, 2]);
  const g = tileGeometry(p, '?window=40,400', tileBase({ kind: 'frame', instance: 'instance-1', frame: 2 }));
  assert.equal(g.tileUrl(1, 7, 9), '../frames-tiles/instance-1/2/0/7/9?window=40,400');
  assert.equal(g.tileUrl(0, 0, 0), '../frames-tiles/instance-1/2/1/0/0?window=40,400');
  assert.equal(tileBase({ kind: 'series', series: 'a/b' }), '../tiles/a%2Fb/');
  const colour = readPyramid({ ...FRAME_PYRAMID, Grey: false, Window: undefined, Presets: undefined });
  assert.deepEqual([colour.grey, colour.window, colour.presets], [false, null, []]);
  assert.equal(readPyramid(JSON_PYRAMID).grey, false); // whole-slide pyramids are never grey
});

test('window: drag rule, rounding, text form, query only when not the default', () => {
  const start = { center: 2048, width: 4096 };
  assert.deepEqual(dragWindow(start, 0, 0), start);
  assert.deepEqual(dragWindow(start, 256, 0), { center: 2048, width: 8192 }); // 256 px right: width doubles
  assert.deepEqual(dragWindow(start, 0, -128), { center: 0, width: 4096 }); // up: centre goes down
  assert.deepEqual(dragWindow(start, -1000, 0), { center: 2048, width: 1 }); // never below 1
  assert.deepEqual(dragWindow({ center: 0.5, width: 0.2 }, -1000, 0), { center: 0.5, width: 0.2 });
  assert.equal(roundWindowValue(1234.5678, 4096), 1235);
  assert.equal(roundWindowValue(0.123456, 0.5), 0.1235);
  assert.equal(windowText({ center: -600, width: 1500 }), '-600,1500');
  assert.deepEqual(parseWindow('-600,1500'), { center: -600, width: 1500 });
  assert.deepEqual(parseWindow(' 40.5 , 1e3 '), { center: 40.5, width: 1000 });
  assert.equal(parseWindow('40,0'), null);
  assert.equal(parseWindow('40'), null);
  assert.equal(parseWindow(null), null);
  assert.equal(readWindow({ Center: 1, Width: Infinity }), null);
  const p = readPyramid(FRAME_PYRAMID);
  assert.equal(windowQuery(p, { center: 2048, width: 4096 }), '');
  assert.equal(windowQuery(p, { center: 40, width: 400 }), '?window=40,400');
  assert.equal(windowQuery({ ...p, grey: false }, { center: 40, width: 400 }), '');
  assert.equal(sameWindow(null, null), false);
  assert.equal(formatWindow({ center: 40.123456789, width: 400 }), 'C 40.1235 W 400');
});

test('frames of a series: reading, linked index, navigation keys', () => {
  const frames = readSeriesFrames({ Frames: [{ Instance: 'a', Frame: 0 }, { Instance: 'a', Frame: 1 },
    { Instance: 'b', Frame: -1 }, { Instance: 7, Frame: 0 }, null, { Instance: 'c', Frame: 0 }] });
  assert.deepEqual(frames, [{ instance: 'a', frame: 0 }, { instance: 'a', frame: 1 }, { instance: 'c', frame: 0 }]);
  assert.deepEqual(readSeriesFrames({}), []);
  const index = (text) => linkedFrameIndex(new URLSearchParams(text), 3);
  assert.deepEqual([index('frame-index=1'), index('frame-index=9'), index('frame-index=x'), index('')], [1, 2, 0, 0]);
  assert.deepEqual(['PageDown', '.', 'PageUp', ',', 'Home', 'End'].map((k) => stepFrame(k, 1, 3)), [2, 2, 0, 0, 0, 2]);
  assert.equal(stepFrame('PageDown', 2, 3), 2);
  assert.equal(stepFrame('PageUp', 0, 3), 0);
  assert.equal(stepFrame('x', 0, 3), null);
});
