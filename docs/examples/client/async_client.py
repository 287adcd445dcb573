import asyncio
import os

from livebase.client import AsyncClient

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")


async def watch(client, until):
    async with client.subscribe("messages:count") as counts:
        async for count in counts:
            print("count:", count)
            if count >= until:
                return


async def main():
    async with AsyncClient(url) as client:
        start = await client.query("messages:count")
        watcher = asyncio.create_task(watch(client, until=start + 2))
        await client.mutation("messages:send", {"author": "dee", "body": "one"})
        await client.mutation("messages:send", {"author": "dee", "body": "two"})
        await asyncio.wait_for(watcher, timeout=10)


asyncio.run(main())
