"""The viewer's pure geometry (webassets/viewer-geometry.js) under Node's test runner, and how it is served."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from wsi.static import AssetStore

ROOT = Path(__file__).resolve().parents[2]
WEBASSETS = ROOT / "webassets"


def test_node_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed (scripts/setup.sh installs it)")
    done = subprocess.run([node, "--test", str(ROOT / "tests" / "js")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", done.stdout, re.M) and re.search(r"^# fail 0", done.stdout, re.M)


def test_the_page_loads_the_module_same_origin_as_javascript() -> None:
    store = AssetStore(WEBASSETS)
    page = store.get("viewer.html")
    assert page is not None and b'<script type="module" src="viewer.js">' in page.body
    viewer = store.get("viewer.js")
    assert viewer is not None and b"from './viewer-geometry.js'" in viewer.body
    geometry = store.get("viewer-geometry.js")
    # Browsers run a module only with a JavaScript media type (HTML: "strict MIME type checking").
    assert geometry is not None and geometry.content_type.startswith("text/javascript")
