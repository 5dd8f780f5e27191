"""Bounded on-demand decoding: a decode whose requesters all left is dropped before it starts, the
request queue and each camera's pixel budget answer 429 with Retry-After, workers are recycled."""
from __future__ import annotations

import asyncio
import os

import pytest

from app_client import app_client, run
from edgecodec.server.config import ServerConfig
from edgecodec.server.tokens import TokenStore
from harness import tokens
from nats_harness import frame

pytestmark = pytest.mark.usefixtures("one_thread")
PNG = "/api/v1/devices/{}/frames/{}.png"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def until(predicate, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def sample(ctx, name: str) -> float:
    return ctx.metrics.registry.get_sample_value(name) or 0.0


class Site:
    """An in-process server with one decode worker, frames of cam1 (and cam2) stored, and frame 0 of
    cam1 turned into a FIFO: once requested, the worker blocks on it until ``release``."""

    def __init__(self, client, ctx, viewer: str, bodies: dict):
        self.client, self.ctx, self.viewer, self.bodies = client, ctx, viewer, bodies
        self.fd: int | None = None

    @classmethod
    async def create(cls, client, ctx, data, ckpt: str, frames: int) -> "Site":
        bodies, store = {}, TokenStore(data)
        for device in ("cam1", "cam2"):
            token = store.add(device)
            for seq in range(frames):
                bodies[device, seq] = frame(ckpt, seq)
                url = f"/api/v1/devices/{device}/frames/{seq}"
                assert (await client.post(url, data=bodies[device, seq], headers=auth(token))).status == 201
        site = cls(client, ctx, store.add("viewer", "viewer"), bodies)
        ecb = ctx.store.ecb_file((await ctx.index.get("cam1", 0)).path)
        ecb.unlink()
        os.mkfifo(ecb)
        site.blocked = asyncio.ensure_future(site.get("cam1", 0))
        site.fd = await asyncio.get_running_loop().run_in_executor(None, os.open, ecb, os.O_WRONLY)  # decoding
        return site

    def get(self, device: str, seq: int):
        return self.client.get(PNG.format(device, seq), headers=auth(self.viewer))

    async def release(self) -> int:
        """Let the blocked decode finish (it succeeds); returns its status."""
        os.write(self.fd, self.bodies["cam1", 0])
        os.close(self.fd)
        self.fd = None
        return (await self.blocked).status


def decode_site(data, ckpt: str, frames: int, **settings):
    return app_client(data, decode_workers=1, model=ckpt, decode_on_arrival=False, **settings)


def test_decodes_whose_clients_left_are_dropped_before_they_start(tmp_path, tiny_ckpt):
    async def go():
        async with decode_site(tmp_path, tiny_ckpt, 5) as (client, ctx):
            site = await Site.create(client, ctx, tmp_path, tiny_ckpt, 5)
            gone = []
            for seq in range(1, 5):  # clients that give up: they close their connections
                reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
                writer.write(f"GET {PNG.format('cam1', seq)} HTTP/1.1\r\nHost: x\r\n"
                             f"Authorization: Bearer {site.viewer}\r\n\r\n".encode())
                gone.append(writer)
            await until(lambda: sample(ctx, "edgecodec_server_decode_requests_waiting") == 4)
            for writer in gone:
                writer.close()
            await until(lambda: sample(ctx, "edgecodec_server_decode_cancelled_total") == 4)
            first = await site.release()
            pngs = sorted(p.name for p in (tmp_path / "png").rglob("*.png"))
            again = (await site.get("cam1", 3)).status
            return first, pngs, sample(ctx, "edgecodec_server_decode_requests_waiting"), again

    first, pngs, waiting, again = run(go())
    assert first == 200 and len(pngs) == 1 and pngs[0].startswith("0."), pngs  # 1..4 were never decoded
    assert waiting == 0 and again == 200


def test_the_request_queue_and_each_cameras_pixel_budget_answer_429(tmp_path, tiny_ckpt):
    async def go():  # 64x48 frames: cam1 may hold 3 of them (the one decoding included)
        async with decode_site(tmp_path, tiny_ckpt, 4, decode_request_queue=3, max_pixels=4096,
                               decode_device_pixels=3 * 64 * 48) as (client, ctx):
            site = await Site.create(client, ctx, tmp_path, tiny_ckpt, 4)
            queued = [asyncio.ensure_future(site.get("cam1", seq)) for seq in (1, 2)]
            await until(lambda: sample(ctx, "edgecodec_server_decode_requests_waiting") == 2)
            over_budget = await site.get("cam1", 3)
            queued.append(asyncio.ensure_future(site.get("cam2", 0)))
            await until(lambda: sample(ctx, "edgecodec_server_decode_requests_waiting") == 3)
            full = await site.get("cam2", 1)
            refusals = [(r.status, r.headers.get("Retry-After"), (await r.json())["reason"])
                        for r in (over_budget, full)]
            first = await site.release()
            return refusals, first, [(await r).status for r in queued]

    refusals, first, queued = run(go())
    assert refusals == [(429, "2", "device_busy"), (429, "2", "busy")]
    assert first == 200 and queued == [200, 200, 200]


@pytest.mark.parametrize("limits,recycled", [({"decode_worker_jobs": 2}, 1), ({"decode_worker_max_mb": 1}, 3)])
def test_decode_workers_are_replaced_after_n_jobs_or_above_the_memory_mark(tmp_path, tiny_ckpt, limits, recycled):
    device, viewer = tokens(tmp_path)

    async def go():
        async with app_client(tmp_path, decode_workers=1, model=tiny_ckpt, decode_on_arrival=False,
                              **limits) as (client, ctx):
            pids, statuses = [ctx.decoder.processes[0].pid], []
            for seq in range(3):
                url = f"/api/v1/devices/cam1/frames/{seq}"
                assert (await client.post(url, data=frame(tiny_ckpt, seq), headers=auth(device))).status == 201
                statuses.append((await client.get(url + ".png", headers=auth(viewer))).status)
                await ctx.decoder.processes[0].start()
                pids.append(ctx.decoder.processes[0].pid)
            return statuses, pids, sample(ctx, "edgecodec_server_decode_workers_recycled_total")

    statuses, pids, count = run(go())
    assert statuses == [200] * 3 and count == recycled
    assert len(set(pids)) == recycled + 1, pids


def test_a_camera_pixel_budget_below_max_pixels_is_refused(tmp_path):
    with pytest.raises(ValueError, match="decode_device_pixels .* must be at least max_pixels"):
        ServerConfig(data=tmp_path, max_pixels=4096, decode_device_pixels=4095)
