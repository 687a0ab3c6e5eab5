"""A TCP forwarder on 127.0.0.1 whose behaviour tests switch at run time.

It stands between two services of a stack (``Stack.route``) and can forward
normally, delay what the server sends back (the request lands, the answer is
late: the classic "timed out but done"), refuse service (accept and close at
once), or swallow everything (accept, never answer). It affects new and open
connections alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Literal

from harness.target import Address

Mode = Literal["forward", "delay", "down", "blackhole"]


class FaultyLink:
    def __init__(self) -> None:
        self.mode: Mode = "forward"
        self.delay = 0.0
        self.upstream: Address | None = None
        self.address: Address | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control (called from the test's thread) ---------------------------------------------
    def start(self, upstream: Address) -> Address:
        self.upstream = upstream
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0), self._loop
        ).result()
        port = self._server.sockets[0].getsockname()[1]
        self.address = Address("127.0.0.1", port)
        return self.address

    def set(self, mode: Mode, delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay
        if mode in ("down", "blackhole"):
            self._loop.call_soon_threadsafe(self._drop_all)

    def heal(self) -> None:
        self.set("forward")

    def close(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            self._drop_all()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    # -- the data path (runs on the link's own loop) -----------------------------------------
    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            writer.close()
            return
        self._writers.add(writer)
        try:
            if self.mode == "blackhole":
                while await reader.read(65536):
                    pass
                return
            assert self.upstream is not None
            up_reader, up_writer = await asyncio.open_connection(self.upstream.host, self.upstream.port)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True))
        except OSError:
            pass
        finally:
            for w in (writer,):
                self._writers.discard(w)
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, back: bool) -> None:
        try:
            while data := await reader.read(65536):
                if self.mode == "blackhole":
                    continue
                if back and self.mode == "delay":
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(OSError):
                writer.close()
