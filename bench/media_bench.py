"""Media benchmark for tumar, over the standard Matrix APIs only.

Starts ``tumar serve`` as a separate process on 127.0.0.1 (a fresh SQLite file or a fresh
PostgreSQL schema per backend, media in a temporary data directory), then measures

* upload throughput: ``POST /_matrix/media/v3/upload`` of random files of each size, from a
  few concurrent uploaders;
* download throughput: ``GET /_matrix/client/v1/media/download`` of every uploaded file by a
  room member who is not the uploader (so every request runs the access check);
* thumbnails: the first request of each size (decoded and resized with Pillow, then stored)
  and repeated requests (served from the media storage), for real JPEG photos;
* streaming: peak RSS of the server before and after one large chunked upload and its
  download, which shows that bodies are never held whole in memory.

All traffic goes to loopback, every phase sends a fixed number of requests and the whole run
has a time limit; the server is stopped at the end. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from PIL import Image

from harness import (
    SERVER_ENV,
    Api,
    CpuMeter,
    ServerProcess,
    User,
    add_backend_args,
    add_run_args,
    gather_limited,
    run_main,
    served,
    summary_ms,
)

UPLOAD = "/_matrix/media/v3/upload"
MEDIA = "/_matrix/client/v1/media"
MIB = 1024 * 1024
MEDIA_ENV = {"TUMAR_MEDIA_MAX_UPLOAD_BYTES": str(1024 * MIB)}


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1024, "m": MIB}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def human(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:g} MiB"
    return f"{size / 1024:g} KiB"


def photo(width: int, height: int, seed: int) -> bytes:
    """A JPEG that does not compress to nothing: noise over a gradient."""
    noise = Image.frombytes("L", (width, height), os.urandom(width * height)).convert("RGB")
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image = Image.blend(noise, gradient, 0.5 + (seed % 5) / 20)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


class MediaClient:
    """Uploads and downloads with a user's own HTTP client (keep-alive, like one device)."""

    def __init__(self, base_url: str, user: User) -> None:
        self.user = user
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(300.0, connect=10.0),
            headers={"Authorization": f"Bearer {user.token}"},
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def upload(self, data: Any, content_type: str) -> str:
        r = await self.http.post(UPLOAD, content=data, headers={"Content-Type": content_type})
        r.raise_for_status()
        uri: str = r.json()["content_uri"]
        return uri

    async def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[int, str]:
        """Stream a response to nowhere; returns its size and SHA-256."""
        digest = hashlib.sha256()
        size = 0
        async with self.http.stream("GET", path, params=params) as r:
            r.raise_for_status()
            async for chunk in r.aiter_bytes():
                size += len(chunk)
                digest.update(chunk)
        return size, digest.hexdigest()


def media_path(mxc: str) -> str:
    return mxc[len("mxc://") :]


async def timed(job: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = await job
    return time.perf_counter() - t0, value


async def bench_sizes(
    uploaders: list[MediaClient],
    reader: MediaClient,
    api: Api,
    room_id: str,
    server: ServerProcess,
    *,
    size: int,
    count: int,
    concurrency: int,
) -> dict[str, Any]:
    blobs = [os.urandom(size) for _ in range(min(count, 8))]
    jobs = []
    for i in range(count):
        client = uploaders[i % len(uploaders)]
        data = blobs[i % len(blobs)]
        jobs.append(lambda c=client, d=data: timed(c.upload(d, "application/octet-stream")))
    with CpuMeter(server, server.postgres) as up_cpu:
        uploads = await gather_limited(concurrency, jobs)
    uris = [uri for _, uri in uploads]
    # Post every file in the room, so that the reader (not the uploader) may download it.
    for i, uri in enumerate(uris):
        owner = uploaders[i % len(uploaders)].user
        content = {"msgtype": "m.file", "body": f"f{i}", "url": uri}
        await api.send_text(owner, room_id, content)
    expected = {hashlib.sha256(b).hexdigest() for b in blobs}
    with CpuMeter(server, server.postgres) as down_cpu:
        downloads = await gather_limited(
            concurrency,
            [lambda u=u: timed(reader.get(f"{MEDIA}/download/{media_path(u)}")) for u in uris],
        )
    assert all(d[1][0] == size and d[1][1] in expected for d in downloads), "bytes differ"
    total = size * count

    def rate(cpu: CpuMeter) -> dict[str, Any]:
        wall = cpu.result["wall_s"] or 1e-9
        server_cpu = cpu.server_cpu
        return {
            "mib_per_s": round(total / MIB / wall, 1),
            "requests_per_s": round(count / wall, 1),
            "server_cpu_ms_per_mib": round(server_cpu * 1000 / (total / MIB), 1)
            if server_cpu is not None
            else None,
            "cpu": cpu.result,
        }

    return {
        "size": size,
        "count": count,
        "concurrency": concurrency,
        "upload": {**rate(up_cpu), "latency_ms": summary_ms([t for t, _ in uploads])},
        "download": {**rate(down_cpu), "latency_ms": summary_ms([t for t, _ in downloads])},
    }


async def bench_thumbnails(
    client: MediaClient, server: ServerProcess, *, photos: int, concurrency: int
) -> dict[str, Any]:
    images = [photo(1600, 1200, i) for i in range(photos)]
    uris = await gather_limited(
        concurrency, [lambda d=d: client.upload(d, "image/jpeg") for d in images]
    )
    sizes = [(96, 96, "crop"), (320, 240, "scale"), (800, 600, "scale")]
    out: dict[str, Any] = {"photos": photos, "photo_bytes": sum(map(len, images)) // photos}
    for label in ("first", "cached"):
        jobs = [
            lambda u=u, w=w, h=h, m=m: timed(
                client.get(
                    f"{MEDIA}/thumbnail/{media_path(u)}",
                    {"width": w, "height": h, "method": m},
                )
            )
            for u in uris
            for w, h, m in sizes
        ]
        with CpuMeter(server, server.postgres) as cpu:
            done = await gather_limited(concurrency, jobs)
        wall = cpu.result["wall_s"] or 1e-9
        out[label] = {
            "requests": len(jobs),
            "requests_per_s": round(len(jobs) / wall, 1),
            "latency_ms": summary_ms([t for t, _ in done]),
            "server_cpu_ms_per_request": round(cpu.server_cpu * 1000 / len(jobs), 1)
            if cpu.server_cpu is not None
            else None,
            "cpu": cpu.result,
        }
    return out


async def bench_large(client: MediaClient, server: ServerProcess, size: int) -> dict[str, Any]:
    chunk = os.urandom(MIB)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // MIB):
            yield chunk

    before = server.peak_rss_bytes()
    elapsed, uri = await timed(client.upload(body(), "application/octet-stream"))
    after_upload = server.peak_rss_bytes()
    down_s, (got, _) = await timed(client.get(f"{MEDIA}/download/{media_path(uri)}"))
    assert got == size // MIB * MIB
    after_download = server.peak_rss_bytes()
    return {
        "size": size // MIB * MIB,
        "upload_s": round(elapsed, 2),
        "upload_mib_per_s": round(size / MIB / elapsed, 1),
        "download_s": round(down_s, 2),
        "download_mib_per_s": round(size / MIB / down_s, 1),
        "peak_rss_before": before,
        "peak_rss_after_upload": after_upload,
        "peak_rss_after_download": after_download,
    }


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend}
    async with served(backend, args, result, tag="media-", env=MEDIA_ENV) as (server, api):
        clients: list[MediaClient] = []
        try:
            users = [await api.register(f"m{i}") for i in range(args.concurrency + 1)]
            room_id = await api.create_room(users[0], "media")
            for user in users[1:]:
                await api.join(user, room_id)
            clients = [MediaClient(server.base_url, u) for u in users]
            reader, uploaders = clients[0], clients[1:]
            result["sizes"] = []
            for size in args.sizes:
                count = max(1, min(args.uploads, args.max_mib_per_size * MIB // size))
                print(f"[{backend}] {count} x {human(size)}", flush=True)
                result["sizes"].append(
                    await bench_sizes(
                        uploaders,
                        reader,
                        api,
                        room_id,
                        server,
                        size=size,
                        count=count,
                        concurrency=args.concurrency,
                    )
                )
            if args.photos > 0:
                print(f"[{backend}] thumbnails of {args.photos} photos", flush=True)
                result["thumbnails"] = await bench_thumbnails(
                    reader, server, photos=args.photos, concurrency=args.concurrency
                )
            if args.large_mib > 0:
                print(f"[{backend}] one {args.large_mib} MiB upload", flush=True)
                result["large"] = await bench_large(reader, server, args.large_mib * MIB)
            result["peak_rss_bytes"] = server.peak_rss_bytes()
        finally:
            for client in clients:
                await client.close()
    return result


def _f(v: Any) -> str:
    return "-" if v is None else str(v)


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "backend   size       n  | up MiB/s  up p50 ms  up p95 ms  srv ms/MiB | "
        "down MiB/s  down p50 ms  down p95 ms  srv ms/MiB"
    ]
    for r in results:
        for s in r.get("sizes", []):
            up, down = s["upload"], s["download"]
            lines.append(
                f"{r['backend']:<9} {human(s['size']):<9} {s['count']:>3}  | "
                f"{up['mib_per_s']:>8}  {_f(up['latency_ms']['p50_ms']):>9}  "
                f"{_f(up['latency_ms']['p95_ms']):>9}  {_f(up['server_cpu_ms_per_mib']):>10} | "
                f"{down['mib_per_s']:>10}  {_f(down['latency_ms']['p50_ms']):>11}  "
                f"{_f(down['latency_ms']['p95_ms']):>11}  {_f(down['server_cpu_ms_per_mib']):>10}"
            )
    lines.append("")
    lines.append("backend   thumbnails  req/s  p50 ms  p95 ms  srv CPU ms/req")
    for r in results:
        t = r.get("thumbnails")
        if not t:
            continue
        for label in ("first", "cached"):
            x = t[label]
            lines.append(
                f"{r['backend']:<9} {label:<10} {x['requests_per_s']:>6}  "
                f"{_f(x['latency_ms']['p50_ms']):>6}  {_f(x['latency_ms']['p95_ms']):>6}  "
                f"{_f(x['server_cpu_ms_per_request']):>14}"
            )
    lines.append("")
    for r in results:
        big = r.get("large")
        if big:
            rss = [big["peak_rss_before"], big["peak_rss_after_upload"]]
            rss.append(big["peak_rss_after_download"])
            mib = [f"{v / MIB:.0f}" if v else "-" for v in rss]
            lines.append(
                f"{r['backend']:<9} one {human(big['size'])} upload {big['upload_mib_per_s']} "
                f"MiB/s, download {big['download_mib_per_s']} MiB/s; server peak RSS "
                f"{mib[0]} -> {mib[1]} -> {mib[2]} MiB"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_backend_args(p)
    p.add_argument("--sizes", default="64k,1m,16m", help="file sizes, comma-separated")
    p.add_argument("--uploads", type=int, default=100, help="uploads per size (at most)")
    p.add_argument(
        "--max-mib-per-size", type=int, default=400, help="cap on the bytes uploaded per size"
    )
    p.add_argument("--concurrency", type=int, default=4, help="concurrent uploaders/requests")
    p.add_argument("--photos", type=int, default=10, help="JPEG photos to thumbnail; 0 skips")
    p.add_argument("--large-mib", type=int, default=200, help="one large upload; 0 skips")
    add_run_args(p)
    args = p.parse_args(argv)
    args.sizes = [parse_size(x) for x in str(args.sizes).split(",") if x.strip()]
    if args.concurrency < 1 or args.uploads < 1 or not args.sizes:
        p.error("--concurrency, --uploads and --sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server_env = {**SERVER_ENV, **MEDIA_ENV}
    done = run_main(args, argv, run_backend, render, server_env=server_env, name="media")
    if done is None:
        return 1
    out, report = done
    print(f"\nwrote {out} ({report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
