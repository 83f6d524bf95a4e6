/* Where the viewer fetches each tile (issue 12): a stored frame a browser shows as is comes straight from Orthanc's
 * own /instances/{id}/frames/{n}/raw, found in the pyramid's "FrameMap" (plugin/wsi/frame_map.py); every other tile
 * from /wsi/tiles. Every URL names the series' "Version", so a browser never asks twice for a tile and a changed
 * series is fetched anew. No DOM here but `loadTile` (node tests import the rest). */

/** (level finest-first, tx, ty, optical path index, focal plane) -> [instance id, frame] or null. */
export function frameLocator(json) {
  const levels = (json.FrameMap || []).map((entry) => {
    const table = new Map();
    const sparse = entry.Sparse;
    if (sparse) {
      for (const [tx, ty, path, plane, instance, frame] of sparse.Tiles) {
        table.set(`${tx},${ty},${path},${plane}`, [sparse.Instances[instance], frame]);
      }
    }
    return { full: entry.Full || [], table };
  });
  return (level, tx, ty, path, plane) => {
    const entry = levels[level];
    if (!entry) {
      return null;
    }
    const found = entry.table.get(`${tx},${ty},${path},${plane}`);
    if (found) {
      return found;
    }
    for (const block of entry.full) {
      const p = block.OpticalPaths.indexOf(path);
      const z = block.FocalPlanes.indexOf(plane);
      if (p < 0 || z < 0 || tx >= block.TilesX || ty >= block.TilesY) {
        continue;
      }
      // PS3.3 C.8.12.4.1.5: columns fastest, then rows, focal planes, optical paths.
      const index = ((p * block.FocalPlanes.length + z) * block.TilesY + ty) * block.TilesX + tx;
      if (index >= block.Offset && index < block.Offset + block.Count) {
        return [block.Instance, index - block.Offset];
      }
    }
    return null;
  };
}

/** Adds the series' version to a /wsi/tiles URL (which may already have a query). */
export function versioned(url, version) {
  if (!version) {
    return url;
  }
  return `${url}${url.includes('?') ? '&' : '?'}version=${encodeURIComponent(version)}`;
}

/** The tile URL by OpenSeadragon level: the stored frame in Orthanc when the map has it, else `tileUrl`'s,
 * versioned. `orthancRoot` is Orthanc's REST root relative to the page (the viewer is at /wsi/app/). */
export function tileUrls(json, pathIndex, plane, tileUrl, orthancRoot = '../../') {
  const locate = frameLocator(json);
  const n = (json.Sizes || []).length;
  const version = json.Version || '';
  const direct = (l, x, y) => {
    const found = locate(n - 1 - l, x, y, pathIndex, plane);
    if (!found) {
      return null;
    }
    const url = `${orthancRoot}instances/${encodeURIComponent(found[0])}/frames/${found[1]}/raw`;
    return versioned(url, version);
  };
  return {
    direct,
    url: (l, x, y) => direct(l, x, y) || versioned(tileUrl(l, x, y), version),
    fallback: (l, x, y) => versioned(tileUrl(l, x, y), version),
  };
}

/** OpenSeadragon's downloadTileStart for these URLs: fetched with `force-cache` (Orthanc sends no caching header
 * for raw frames; the version in every URL is what makes reuse safe), decoded, and on any failure of a frame
 * from Orthanc (an authorization plugin refusing /instances, a frame a browser cannot decode) fetched again
 * through /wsi/tiles (`fallbackFor(level, x, y)`), which decodes what needs decoding. */
export function tileLoader(fallbackFor) {
  // What a browser sends for an <img> (fetch() would send */*): /wsi/tiles then answers lossless WebP, not PNG,
  // for a tile it must re-encode (about half the bytes); stored JPEG still goes out as stored.
  const headers = { Accept: 'image/webp,image/*,*/*;q=0.8' };
  function load(context, url, retry) {
    const abort = new AbortController();
    context.userData.abort = abort;
    const failed = (why) => {
      const other = retry && context.tile ? fallbackFor(context.tile.level, context.tile.x, context.tile.y) : null;
      if (other && other !== url && !abort.signal.aborted) {
        load(context, other, false);
      } else {
        context.fail(`[tile] ${why}`, null);
      }
    };
    fetch(url, { cache: 'force-cache', credentials: 'same-origin', headers, signal: abort.signal })
      .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((blob) => {
        const image = new Image();
        const objectUrl = URL.createObjectURL(blob);
        image.onload = () => { URL.revokeObjectURL(objectUrl); context.finish(image, null, 'image'); };
        image.onerror = () => { URL.revokeObjectURL(objectUrl); failed('cannot decode'); };
        image.src = objectUrl;
      }, (error) => failed(error.message));
  }
  return {
    downloadTileStart: (context) => load(context, context.src, true),
    downloadTileAbort: (context) => context.userData.abort && context.userData.abort.abort(),
  };
}
