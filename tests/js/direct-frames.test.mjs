// Unit tests of webassets/direct-frames.js, run by `node --test` (tests/unit/test_viewer_geometry_js.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { frameLocator, tileUrls, versioned } from '../../webassets/direct-frames.js';

// Level 0: 3 x 2 tiles, two focal planes, in two instances of a concatenation (frames 0-7 and 8-11);
// level 1: a sparse table with a hole at (1, 0).
const PYRAMID = {
  Sizes: [[700, 500], [350, 250]], Version: 'v1',
  FrameMap: [
    { Full: [
      { Instance: 'a', Offset: 0, Count: 8, TilesX: 3, TilesY: 2, OpticalPaths: [0], FocalPlanes: [0, 1] },
      { Instance: 'b', Offset: 8, Count: 4, TilesX: 3, TilesY: 2, OpticalPaths: [0], FocalPlanes: [0, 1] }] },
    { Full: [], Sparse: { Instances: ['s'], Tiles: [[0, 0, 0, 0, 0, 5]] } },
  ],
};

test('TILED_FULL: columns, rows, focal planes, then the concatenation part', () => {
  const locate = frameLocator(PYRAMID);
  assert.deepEqual(locate(0, 0, 0, 0, 0), ['a', 0]);
  assert.deepEqual(locate(0, 2, 1, 0, 0), ['a', 5]);
  assert.deepEqual(locate(0, 1, 0, 0, 1), ['a', 7]);
  assert.deepEqual(locate(0, 2, 1, 0, 1), ['b', 3]);
  assert.equal(locate(0, 0, 0, 1, 0), null); // an optical path the map does not have
  assert.equal(locate(0, 3, 0, 0, 0), null); // outside the level
  assert.equal(locate(2, 0, 0, 0, 0), null); // no such level
});

test('TILED_SPARSE: the table, holes are not there', () => {
  const locate = frameLocator(PYRAMID);
  assert.deepEqual(locate(1, 0, 0, 0, 0), ['s', 5]);
  assert.equal(locate(1, 1, 0, 0, 0), null);
});

test('URLs: mapped tiles from Orthanc, others from /wsi/tiles, all versioned; OSD levels count the other way', () => {
  const urls = tileUrls(PYRAMID, 0, 1, (l, x, y) => `../tiles/S/${1 - l}/${x}/${y}?focal-plane=1`);
  assert.equal(urls.url(1, 1, 0), '../../instances/a/frames/7/raw?version=v1');
  assert.equal(urls.url(0, 0, 0), '../tiles/S/1/0/0?focal-plane=1&version=v1'); // plane 1 is not in the sparse map
  assert.equal(urls.fallback(1, 1, 0), '../tiles/S/0/1/0?focal-plane=1&version=v1');
  assert.equal(versioned('../tiles/S/0/0/0', ''), '../tiles/S/0/0/0');
  assert.equal(versioned('../tiles/S/0/0/0', 'a b'), '../tiles/S/0/0/0?version=a%20b');
});

test('a pyramid without a map (an older plugin) asks /wsi/tiles for everything', () => {
  const urls = tileUrls({ Sizes: [[10, 10]] }, 0, 0, () => '../tiles/S/0/0/0');
  assert.equal(urls.url(0, 0, 0), '../tiles/S/0/0/0');
});
