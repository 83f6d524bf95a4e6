/* Test page: OpenSeadragon reading a IIIF Image API info.json, given as ?info=URL. */
(function () {
  'use strict';
  const info = new URLSearchParams(window.location.search).get('info');
  const status = document.getElementById('status');
  if (!info) {
    status.textContent = 'No IIIF info.json given: open osd.html?info=<URL of info.json>.';
    return;
  }
  status.textContent = `IIIF Image API: ${info}`;
  const viewer = window.OpenSeadragon({
    element: document.getElementById('osd'),
    prefixUrl: 'vendor/openseadragon/images/',
    drawer: new URLSearchParams(window.location.search).get('drawer') || ['webgl', 'canvas'],
    tileSources: [info],
    showNavigator: true,
    showRotationControl: true,
  });
  viewer.addHandler('open', () => { document.body.dataset.state = 'open'; });
  viewer.addHandler('open-failed', (e) => {
    status.textContent = `Cannot open ${info}: ${e.message}`;
    status.classList.add('error');
  });
  window.osdViewer = viewer;
})();
