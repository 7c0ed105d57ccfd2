"""Scale-out: 1, 2 and 3 Portcullis replicas on one PostgreSQL database and one S3 bucket.

On two cores more replicas cannot add CPU, so the throughput figure shows the cost of
sharing (no linear gain is expected here); what scales is measured per pull: database
transactions and object-store requests, which decide how many replicas one database and one
bucket can carry.
"""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from portcullis_testkit.backends import MotoServer, PostgresCluster, SharedBackend, SharedStore
from portcullis_testkit.proc import ManagedProcess, run
from portcullis_testkit.util import free_port, wait_until

from .clients import WRK_SOAK_LUA, curl_get, wrk
from .common import MANIFEST_ACCEPT, MIB, counter, log, wait_quiet
from .imagecache import get_image

# Big enough that the fill takes a while (moto stores it afterwards, slowly), small enough to generate per run.
XREP_BYTES = 256 * MIB
S3_REQUEST = re.compile(r'"(GET|PUT|HEAD|POST|DELETE) /portcullis-e2e/')


class Replica:
    def __init__(self, workdir: Path, binary: Path, store: SharedStore, index: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store
        self.binary = binary
        data = workdir / f"replica-{index}"
        data.mkdir(parents=True, exist_ok=True)
        self.proc = ManagedProcess([str(binary), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data),
                                    "--login-failure-limit", "0", "--allow-private-upstreams", *store.args()], workdir / f"replica-{index}.log",
                                   env={**store.env(), "PORTCULLIS_ADMIN_TOKEN": store.admin_token})
        wait_until(lambda: self._healthy(), timeout=60, message=lambda: f"replica {index} did not start:\n{self.proc.log_tail()}")

    def _healthy(self) -> bool:
        import requests

        if not self.proc.alive():
            raise RuntimeError(f"replica exited:\n{self.proc.log_tail()}")
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def cli(self, *args: str, input: Optional[str] = None) -> str:
        cp = run([str(self.binary), *args], input=input, timeout=60,
                 env={"PORTCULLIS_API_URL": self.url, "PORTCULLIS_API_TOKEN": self.store.admin_token})
        if cp.returncode != 0:
            raise RuntimeError(f"portcullis {' '.join(args)}: {cp.stderr}")
        return cp.stdout

    def token(self, repo: str, license_id: str) -> str:
        import requests

        r = requests.get(f"{self.url}/v2/token", params={"service": f"127.0.0.1:{self.port}", "scope": f"repository:{repo}:pull"},
                         auth=("bench", license_id), timeout=30)
        r.raise_for_status()
        return r.json()["token"]


def _transactions(pg: PostgresCluster, database: str) -> int:
    # Statistics are flushed about once a second; wait for this run's to land.
    time.sleep(1.2)
    cp = pg.psql(f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{database}'")
    return int(cp.stdout.strip() or 0)


def _s3_requests(moto: MotoServer) -> int:
    return len(S3_REQUEST.findall(moto.proc.log_text()))


def _cross_replica_cold(bench, replicas: List[Replica], moto: MotoServer, license_id: str, run_i: int) -> None:
    """A 256 MiB layer pulled cold through replica 0 and, a moment later, through replica 1:
    replica 1 streams replica 0's fill (issue 28), so its client's first byte comes before
    replica 0's client has the whole blob, with one upstream GET between them."""
    # Content of its own per run (a few KiB larger each time), so each run's blob is cold in the bucket.
    image = get_image("big", XREP_BYTES + run_i * 4096)
    repo_up = f"bench/xrep{run_i}"
    bench.up.push(image, repo_up)
    blob = image.largest_layer()
    repo = f"proxy/bench/up/{repo_up}"
    urls = [f"{r.url}/v2/{repo}/blobs/{blob.digest}" for r in replicas[:2]]
    headers = [{"Authorization": "Bearer " + r.token(repo, license_id)} for r in replicas[:2]]
    # The previous run's blob may still be on its way into moto (slow, in Python): a lease
    # holder's first look in the bucket would wait behind that upload.
    for pid in [r.proc.pid for r in replicas[:2]] + [moto.proc.pid]:
        wait_quiet(pid)
    mark = bench.up.mark()
    results: Dict[int, dict] = {}
    started: Dict[int, float] = {}

    def get(i: int) -> None:
        started[i] = time.monotonic()
        try:
            results[i] = curl_get(urls[i], headers[i], blob.size, max_time=bench.a.curl_max)
        except RuntimeError as exc:
            results[i] = {"error": str(exc)}

    streamed_before = [_peer_fills(r) for r in replicas[:2]]
    threads = [threading.Thread(target=get, args=(i,)) for i in range(2)]
    threads[0].start()
    time.sleep(0.1)
    threads[1].start()
    for t in threads:
        t.join()
    if "error" in results[0] or "error" in results[1]:
        log(f"cross-replica cold pull run {run_i + 1} failed: {results}")
        return
    gets = bench.up.count_since(mark, "GET", f"/blobs/{blob.digest}")
    # Which replica streamed the other's fill (normally replica 1; the lease decides).
    streamed = [_peer_fills(r) - before for r, before in zip(replicas[:2], streamed_before)]
    if sorted(streamed) != [0, 1]:
        log(f"cross-replica cold pull run {run_i + 1}: no replica streamed the other's fill ({streamed}); upstream GETs {gets}")
        bench.res.add("xrep_up_get", "portcullis", gets)
        return
    follower = streamed.index(1)
    filler = 1 - follower
    ahead = (started[filler] + results[filler]["time"]) - (started[follower] + results[follower]["ttfb"])
    bench.res.add("xrep_up_get", "portcullis", gets)
    bench.res.add("xrep_follower_ttfb_ms", "portcullis", results[follower]["ttfb"] * 1000)
    bench.res.add("xrep_follower_ahead_s", "portcullis", ahead)
    bench.res.add("xrep_filler_mbps", "portcullis", results[filler]["mbps"])
    bench.res.add("xrep_follower_mbps", "portcullis", results[follower]["mbps"])
    log(f"cross-replica cold {blob.size // MIB} MiB run {run_i + 1}: replica {follower} streamed replica {filler}'s fill, "
        f"first byte {results[follower]['ttfb'] * 1000:.0f} ms after asking (replica {filler}'s own client: "
        f"{results[filler]['ttfb'] * 1000:.0f} ms), {ahead:.2f} s before replica {filler}'s client "
        f"had the whole blob; {results[filler]['mbps']:.0f} / {results[follower]['mbps']:.0f} MB/s, upstream GETs {gets}")


def _peer_fills(replica: Replica) -> int:
    return int(counter(replica.url, "portcullis_peer_fills_total"))


def phase_scale(bench) -> None:
    a = bench.a
    try:
        shared = SharedBackend(bench.work / "shared")
    except Exception as exc:  # noqa: BLE001 - reported, the other phases still count
        log(f"scale-out skipped: {exc}")
        return
    replicas: List[Replica] = []
    try:
        store = shared.attach()
        frozen = bench.work / "bin" / "portcullis"
        for i in range(3):
            replicas.append(Replica(bench.work / "scale", frozen, store, i))
        first = replicas[0]
        first.cli("app", "create", "bench", "--name", "Bench")
        first.cli("registry", "add", "other", "--endpoint", bench.up.url, "--name", "up", "--username", bench.up.username,
                  "--password-stdin", "--app", "bench", input=bench.up.password + "\n")
        license_id = json.loads(first.cli("customer", "create", "--app", "bench", "--name", "bench", "-o", "json"))["licenseId"]
        repo = "proxy/bench/up/bench/small"
        small = bench.small
        paths = [f"/v2/{repo}/manifests/v1", f"/v2/{repo}/manifests/{small.manifest.digest}"] + \
                [f"/v2/{repo}/blobs/{b.digest}" for b in small.all_blobs()]
        accept = MANIFEST_ACCEPT

        def pull(replica: Replica) -> int:
            """One image pull as a client does it: token, manifest by tag, every blob."""
            import requests

            s = requests.Session()
            s.headers.update({"Authorization": "Bearer " + replica.token(repo, license_id), "Accept": accept})
            count = 0
            for p in paths[:1] + paths[2:]:
                r = s.get(replica.url + p, timeout=60)
                r.raise_for_status()
                count += 1
            return count

        for kind, replica in (("cold", replicas[0]), ("warm", replicas[1])):
            tx0, s30, up0 = _transactions(shared.postgres, store.database), _s3_requests(shared.moto), bench.up.mark()
            st0 = int(counter(replica.url, "portcullis_db_statements_total"))
            pull(replica)
            # Transactions count every replica's background refreshes (catalog, domains, upstream
            # directory, expiry and instance scans) during the pull too; statements are the pulling
            # replica's own (its refreshes included, pull records flushed within the wait).
            tx = _transactions(shared.postgres, store.database) - tx0
            statements = int(counter(replica.url, "portcullis_db_statements_total")) - st0
            bench.res.add(f"scale_{kind}_pull_db_statements", "portcullis", statements)
            s3 = _s3_requests(shared.moto) - s30
            ups = len(bench.up.requests_since(up0))
            bench.res.add(f"scale_{kind}_pull_db_tx", "portcullis", tx)
            bench.res.add(f"scale_{kind}_pull_s3_requests", "portcullis", s3)
            bench.res.add(f"scale_{kind}_pull_upstream_requests", "portcullis", ups)
            log(f"scale-out {kind} pull of {len(paths) - 1} objects: {tx} database transactions (all replicas), "
                f"{statements} statements by the pulling replica, {s3} object-store requests, "
                f"{ups} upstream requests")

        for run_i in range(a.runs):
            _cross_replica_cold(bench, replicas, shared.moto, license_id, run_i)

        paths_file = bench.work / "scale-paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        for n in (1, 2, 3):
            for run_i in range(a.runs):
                outcomes: Dict[int, dict] = {}
                tx0, s30 = _transactions(shared.postgres, store.database), _s3_requests(shared.moto)

                def load(i: int) -> None:
                    r = replicas[i]
                    outcomes[i] = wrk(r.url + paths[0], {"Authorization": "Bearer " + r.token(repo, license_id), "Accept": accept},
                                      threads=1, conns=8, duration=a.wrk_duration, script=WRK_SOAK_LUA,
                                      env={"BENCH_PATHS": str(paths_file)})

                threads = [threading.Thread(target=load, args=(i,)) for i in range(n)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                total = sum(o["requests"] for o in outcomes.values())
                rps = sum(o["rps"] for o in outcomes.values())
                errors = sum(o["errors"] for o in outcomes.values())
                tx = _transactions(shared.postgres, store.database) - tx0
                s3 = _s3_requests(shared.moto) - s30
                bench.res.add(f"scale_r{n}_rps", "portcullis", rps)
                bench.res.add(f"scale_r{n}_errors", "portcullis", errors)
                bench.res.add(f"scale_r{n}_db_tx_per_req", "portcullis", tx / total if total else None)
                bench.res.add(f"scale_r{n}_s3_per_req", "portcullis", s3 / total if total else None)
                log(f"scale-out {n} replica(s) run {run_i + 1}/{a.runs}: {rps:8.0f} req/s, errors {errors}, "
                    f"{tx / max(total, 1):.3f} database transactions and {s3 / max(total, 1):.3f} object-store requests per request")
    finally:
        for r in replicas:
            r.proc.stop()
        shared.stop()
