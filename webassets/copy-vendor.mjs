// Copies the browser builds the plugin serves from node_modules/ into vendor/ (both git-ignored),
// so only these files, not the whole of node_modules, are reachable under /wsi/app/.
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const vendor = join(here, "vendor");

const copies = [
  ["openseadragon/build/openseadragon/openseadragon.min.js", "openseadragon/openseadragon.min.js"],
  ["openseadragon/build/openseadragon/images", "openseadragon/images"],
  ["openseadragon/LICENSE.txt", "openseadragon/LICENSE.txt"],
  // Annotorious (BSD-3-Clause; the package ships no licence file: its package.json names it) and its extra
  // drawing tools, as UMD builds: globals AnnotoriousOSD and AnnotoriousTools (webassets/annotations.js).
  ["@annotorious/openseadragon/dist/annotorious-openseadragon.js", "annotorious/annotorious-openseadragon.js"],
  ["@annotorious/openseadragon/dist/annotorious-openseadragon.css", "annotorious/annotorious-openseadragon.css"],
  ["@annotorious/openseadragon/package.json", "annotorious/annotorious-openseadragon.package.txt"],
  ["@annotorious/plugin-tools/dist/annotorious-plugin-tools.js", "annotorious/annotorious-plugin-tools.js"],
  ["@annotorious/plugin-tools/dist/annotorious-plugin-tools.css", "annotorious/annotorious-plugin-tools.css"],
  ["@annotorious/plugin-tools/LICENSE", "annotorious/LICENSE.txt"],
  ["mirador/dist/mirador.min.js", "mirador/mirador.min.js"],
  ["mirador/LICENSE", "mirador/LICENSE.txt"],
];

rmSync(vendor, { recursive: true, force: true });
for (const [from, to] of copies) {
  const source = join(modules, from);
  if (!existsSync(source)) {
    console.error(`copy-vendor: missing ${source}; run "npm ci" in webassets/ first`);
    process.exit(1);
  }
  mkdirSync(dirname(join(vendor, to)), { recursive: true });
  cpSync(source, join(vendor, to), { recursive: true });
}
console.log(`copy-vendor: ${copies.length} entries copied into ${vendor}`);
