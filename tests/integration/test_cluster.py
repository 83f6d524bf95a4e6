"""Scale-out, for real: PostgreSQL, two Orthanc replicas over one index and one storage, nginx in front
(tests/support/cluster.py). What must hold (SeriesCheckSeconds = 1):

- every replica, and nginx, answer the same pyramids, tiles, IIIF info and manifests for a series uploaded
  through replica A;
- a series deleted through A answers 404 on B for every request B receives SeriesCheckSeconds after the
  deletion, and nothing ever answers 5xx while clients hammer B;
- a series stored again through A under the same UIDs with other pixels: B answers the new pixels, although
  B's own Orthanc routes still answer the old ones (the test shows that first, so it can fail);
- a level added through A later: B's pyramid grows;
- nothing the cluster started runs afterwards, after a failed start too.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import time
from pathlib import Path

import pydicom
import pytest

from tests.conftest import PLUGIN_SCRIPT, SOURCE_SEED, SOURCE_SIZE
from tests.integration.test_change_under_load import make_data, targets
from tests.support.cluster import Cluster, missing_packages
from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

CHECK_SECONDS = 1.0
HAMMER_CLIENTS = 4
MAX_REQUESTS = 20_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    require_orthanc()
    if missing := missing_packages():
        pytest.skip(f"missing Debian packages {missing} (scripts/setup.sh test installs them)")
    with Cluster(PLUGIN_SCRIPT, tmp_path_factory.mktemp("cluster"), replicas=2,
                 plugin_config={"SeriesCheckSeconds": CHECK_SECONDS}) as running:
        yield running


def answer(server, path: str, accept: str = "") -> tuple[int, str, bytes]:
    status, headers, body = server.get(path, headers={"Accept": accept} if accept else None)
    return status, headers.get("content-type", ""), body


def answers(server, paths: list[tuple[str, str]]) -> dict[str, tuple[int, str, str]]:
    out = {}
    for path, accept in paths:
        status, kind, body = answer(server, path, accept)
        out[f"{path} {accept}"] = (status, kind, hashlib.sha256(body).hexdigest())
    return out


def routes(data_series: str, ct: str, ct_instance: str) -> list[tuple[str, str]]:
    return [(t.path, t.accept) for t in targets(data_series, ct, ct_instance)] + [
        (f"/wsi/iiif/series/{data_series}/manifest.json", ""), (f"/wsi/tiles/{data_series}/1/0/0", "")]


def uploaded(server: OrthancServer, files: list[Path]) -> tuple[str, str, str]:
    """(slide series, CT series, first CT instance) of make_data's files uploaded through `server`."""
    ids = server.upload(files)
    by_series: dict[str, list[str]] = {}
    for instance in ids:
        by_series.setdefault(server.get_json(f"/instances/{instance}")["ParentSeries"], []).append(instance)
    ct = next(s for s, members in by_series.items() if len(members) == 2)
    slide = next(s for s in by_series if s != ct)
    return slide, ct, sorted(by_series[ct])[0]


def delete_series(server: OrthancServer, *series: str) -> None:
    for series_id in series:
        assert server.request("DELETE", f"/series/{series_id}")[0] == 200


# ---- the cluster itself -----------------------------------------------------------------------------------

def test_nginx_spreads_requests_round_robin_over_the_replicas(cluster: Cluster):
    names = [cluster.nginx.get_json("/system")["Name"] for _ in range(6)]
    assert sorted(set(names)) == ["replica-a", "replica-b"]
    assert names[0::2] == [names[0]] * 3 and names[1::2] == [names[1]] * 3  # alternating
    for replica in cluster.replicas:  # one index: PostgreSQL's, not each replica's SQLite
        assert replica.get_json("/plugins") and "postgresql-index" in replica.get_json("/plugins")
        assert not (replica.directory / "db" / "index").exists()


def test_a_cluster_leaves_nothing_running_even_when_its_start_fails(tmp_path: Path):
    require_orthanc()
    if missing := missing_packages():
        pytest.skip(f"missing Debian packages {missing}")
    with Cluster(None, tmp_path / "ok", replicas=1) as small:
        pids = small.pids()
        assert len(pids) == 3 and all(_runs(pid) for pid in pids)
        assert small.nginx.get_json("/system")["Name"] == "replica-a"
    assert not [pid for pid in pids if _runs(pid)]
    with socket.socket() as taken:  # every replica asked for a port that is already held: Orthanc exits
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        broken = Cluster(None, tmp_path / "broken", replicas=2, extra_config={"HttpPort": taken.getsockname()[1]})
        with pytest.raises(RuntimeError, match="Orthanc exited at start"), broken:
            pass
    assert broken.postgresql is not None and broken.postgresql.pid is None and not broken.pids()
    assert not broken.postgresql.directory.exists()


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] if Path(f"/proc/{pid}/stat").exists() \
        else "X"
    return state not in ("Z", "X")


# ---- correctness across replicas --------------------------------------------------------------------------

def test_every_replica_and_nginx_answer_the_same(cluster: Cluster, tmp_path: Path):
    a, b = cluster.replicas
    slide, ct, ct_instance = uploaded(a, make_data(tmp_path).old)
    paths = routes(slide, ct, ct_instance)
    from_a = answers(a, paths)
    assert all(status == 200 for status, _, _ in from_a.values()), from_a
    assert answers(b, paths) == from_a
    assert answers(cluster.nginx, paths) == from_a  # nginx alternates: each path from either replica
    assert answers(cluster.nginx, paths) == from_a


def test_delete_through_a_while_clients_hammer_b_answers_404_on_b_in_time_and_never_500(cluster: Cluster,
                                                                                       tmp_path: Path):
    a, b = cluster.replicas
    slide, ct, ct_instance = uploaded(a, make_data(tmp_path).old)
    paths = routes(slide, ct, ct_instance)
    assert all(s == 200 for s, _, _ in answers(b, paths).values())  # B has it all cached
    log, stop = [], threading.Event()

    def hammer(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
        n = offset
        while not stop.is_set() and len(log) < MAX_REQUESTS:
            path, accept = paths[n % len(paths)]
            n += 1
            started = time.monotonic()
            for attempt in (1, 2):
                try:
                    connection.request("GET", path, headers={"Accept": accept} if accept else {})
                    response = connection.getresponse()
                    response.read()
                    log.append((started, path, response.status))
                    break
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
                    # A keep-alive connection the server closed while idle (a client thread starved of CPU on a
                    # loaded machine) is met on the next request: sent again once on a new connection, as HTTP
                    # clients do for a connection closed before any answer. A failure on a new one counts.
                    if attempt == 2 or not isinstance(error, http.client.RemoteDisconnected):
                        log.append((started, path, repr(error)))
                        break
        connection.close()

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(HAMMER_CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        deleting = time.monotonic()
        delete_series(a, slide, ct)
        deleted = time.monotonic()
        time.sleep(CHECK_SECONDS + 1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    failures = [entry for entry in log if not isinstance(entry[2], int) or entry[2] >= 500]
    assert not failures, failures[:5]
    late = [entry for entry in log if entry[0] > deleted + CHECK_SECONDS]
    assert len(late) > 20 and {status for _, _, status in late} == {404}, \
        sorted({(p, s) for _, p, s in late if s != 404})[:5]
    before = [entry for entry in log if entry[0] < deleting]
    assert before and {status for _, _, status in before} == {200}  # the load really ran against the series


def without_frame_map(server, slide: str) -> dict:
    pyramid = server.get_json(f"/wsi/pyramids/{slide}")
    pyramid.pop("FrameMap")
    return pyramid


def test_stored_again_through_a_with_other_pixels_b_answers_the_new_pixels(cluster: Cluster, tmp_path: Path):
    a, b = cluster.replicas
    data = make_data(tmp_path)
    slide, ct, ct_instance = uploaded(a, data.old)
    paths = routes(slide, ct, ct_instance)
    old = answers(b, paths)  # B has read (and Orthanc B parsed) every instance
    assert b.get_json(f"/series/{slide}/instances")[0]["ID"] in str(b.get_json(f"/wsi/pyramids/{slide}")["FrameMap"])
    instance = a.get_json(f"/series/{slide}/instances")[0]["ID"]
    old_raw = b.get(f"/instances/{instance}/frames/0/raw")[2]
    delete_series(a, slide, ct)
    assert uploaded(a, data.new) == (slide, ct, ct_instance)  # the same UIDs: the same Orthanc ids
    # Orthanc 1.10 itself: B's own frame route keeps the old pixels, its stored file is the new one.
    assert b.get(f"/instances/{instance}/frames/0/raw")[2] == old_raw != a.get(f"/instances/{instance}/frames/0/raw")[2]
    assert b.get(f"/instances/{instance}/attachments/dicom/data")[2] == a.get(f"/instances/{instance}/file")[2]
    time.sleep(CHECK_SECONDS + 0.1)
    new = answers(a, paths)  # A stored them: its own reads are fresh
    pixel_paths = [key for key in new if "info.json" not in key and "manifest" not in key and "pyramids" not in key]
    assert all(new[key] != old[key] for key in pixel_paths)  # the test can fail: other pixels
    pixels_and_iiif = [(path, accept) for path, accept in paths if "/wsi/pyramids/" not in path]
    assert answers(b, pixels_and_iiif) == answers(a, pixels_and_iiif)
    assert answers(cluster.nginx, pixels_and_iiif) == answers(a, pixels_and_iiif)
    assert all(without_frame_map(server, slide) == without_frame_map(a, slide) for server in (b, cluster.nginx))
    # The viewer fetches mapped frames from the replica's own frame route, which on B still answers the old
    # file: B's frame map leaves the replaced instances out, A's (it stored them) keeps them.
    assert instance in str(a.get_json(f"/wsi/pyramids/{slide}")["FrameMap"])
    assert instance not in str(b.get_json(f"/wsi/pyramids/{slide}")["FrameMap"])


def test_a_level_added_through_a_later_grows_the_pyramid_on_b(cluster: Cluster, tmp_path: Path):
    a, b = cluster.replicas
    files = write_slide(tmp_path / "late", textured_image(*SOURCE_SIZE, seed=SOURCE_SEED + 1))
    coarsest = max(files, key=lambda p: -int(pydicom.dcmread(p, stop_before_pixels=True).TotalPixelMatrixColumns))
    slide = a.upload_series([p for p in files if p != coarsest])
    before = b.get_json(f"/wsi/pyramids/{slide}")
    assert len(before["Sizes"]) == 2
    assert b.get(f"/wsi/tiles/{slide}/2/0/0")[0] == 404
    a.upload([coarsest])
    time.sleep(CHECK_SECONDS + 0.1)
    after = b.get_json(f"/wsi/pyramids/{slide}")
    assert len(after["Sizes"]) == 3 and after["Sizes"][:2] == before["Sizes"]
    assert after == a.get_json(f"/wsi/pyramids/{slide}")
    assert b.get(f"/wsi/tiles/{slide}/2/0/0")[2] == a.get(f"/wsi/tiles/{slide}/2/0/0")[2]
    assert b.get(f"/wsi/iiif/tiles/{slide}/info.json")[2] == a.get(f"/wsi/iiif/tiles/{slide}/info.json")[2]
