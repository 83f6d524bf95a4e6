// Annotation shapes and measurements of the viewer (webassets/annotations-geometry.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  featureToShape, formatMeasurements, measure, rectangleCorners, selectorToShape, shapeToSelector, thin,
} from '../../webassets/annotations-geometry.js';

const close = (a, b) => a.flat().forEach((v, i) => assert.ok(Math.abs(v - b.flat()[i]) < 1e-9, `${a} ${b}`));

test('every shape survives Annotorious and back', () => {
  const shapes = [
    { type: 'POINT', points: [[10, 20]] },
    { type: 'POLYLINE', points: [[0, 0], [30, 40]] },
    { type: 'POLYLINE', points: [[0, 0], [30, 40], [50, 0]] },
    { type: 'POLYGON', points: [[0, 0], [30, 0], [15, 20]] },
    { type: 'RECTANGLE', points: [[10, 10], [50, 10], [50, 30], [10, 30]] },
    { type: 'ELLIPSE', points: [[0, 50], [100, 50], [50, 30], [50, 70]] },
    { type: 'ELLIPSE', points: [[50, 0], [50, 100], [30, 50], [70, 50]] },
  ];
  for (const shape of shapes) {
    const { selector, point } = shapeToSelector(shape);
    const back = selectorToShape(selector, point);
    assert.equal(back.type, shape.type);
    close(back.points, shape.points);
  }
});

test('a rotated rectangle keeps its corners', () => {
  const corners = rectangleCorners({ x: 0, y: 0, w: 20, h: 10, rot: Math.PI / 6 });
  const { selector } = shapeToSelector({ type: 'RECTANGLE', points: corners });
  close(rectangleCorners(selector.geometry), corners);
});

test('closed paths are polygons, open ones polylines', () => {
  const points = [{ type: 'CORNER', point: [0, 0] }, { type: 'CORNER', point: [5, 5] }, { type: 'CORNER', point: [9, 0] }];
  assert.equal(selectorToShape({ type: 'POLYLINE', geometry: { points, closed: true } }).type, 'POLYGON');
  assert.equal(selectorToShape({ type: 'POLYLINE', geometry: { points, closed: false } }).type, 'POLYLINE');
});

test('GeoJSON features become shapes', () => {
  assert.deepEqual(featureToShape({ geometry: { type: 'Point', coordinates: [1, 2] }, properties: {} }),
    { type: 'POINT', points: [[1, 2]] });
  const ring = [[0, 0], [4, 0], [4, 3], [0, 3], [0, 0]];
  assert.deepEqual(featureToShape({ geometry: { type: 'Polygon', coordinates: [ring] },
    properties: { graphicType: 'RECTANGLE' } }), { type: 'RECTANGLE', points: ring.slice(0, 4) });
});

test('measurements in micrometres from the pixel spacing', () => {
  const spacing = [0.00025, 0.00025];
  assert.equal(measure({ type: 'POLYLINE', points: [[0, 0], [300, 400]] }, spacing).lengthUm, 125);
  const box = measure({ type: 'RECTANGLE', points: [[0, 0], [400, 0], [400, 200], [0, 200]] }, spacing);
  assert.deepEqual(box, { areaUm2: 5000, perimeterUm: 300 });
  const circle = measure({ type: 'ELLIPSE', points: [[0, 0], [400, 0], [200, -200], [200, 200]] }, spacing);
  assert.ok(Math.abs(circle.areaUm2 - Math.PI * 2500) < 1e-6 && Math.abs(circle.perimeterUm - Math.PI * 100) < 1e-6);
  assert.deepEqual(measure({ type: 'POINT', points: [[1, 1]] }, spacing), {});
  assert.deepEqual(measure({ type: 'POLYGON', points: [[0, 0], [1, 0], [0, 1]] }, null), {});
  assert.equal(formatMeasurements(box), 'area 5000 µm², perimeter 300 µm');
  assert.equal(formatMeasurements({ areaUm2: 2.5e6, perimeterUm: 6000 }), 'area 2.50 mm², perimeter 6.00 mm');
});

test('a freehand stroke is thinned', () => {
  assert.deepEqual(thin([[0, 0], [0.5, 0], [2, 0], [2.1, 0], [5, 0]], 1.5), [[0, 0], [2, 0], [5, 0]]);
});
