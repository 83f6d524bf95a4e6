/* Test page: Mirador showing a IIIF Presentation manifest, given as ?manifest=URL. */
(function () {
  'use strict';
  const manifest = new URLSearchParams(window.location.search).get('manifest');
  const status = document.getElementById('status');
  if (!manifest) {
    status.textContent = 'No manifest given: open mirador.html?manifest=<URL of manifest.json>.';
    return;
  }
  status.textContent = `IIIF manifest: ${manifest}`;
  window.miradorInstance = window.Mirador.viewer({
    id: 'mirador',
    windows: [{ manifestId: manifest }],
    window: { allowClose: false, sideBarOpenByDefault: true },
    workspaceControlPanel: { enabled: false },
  });
})();
