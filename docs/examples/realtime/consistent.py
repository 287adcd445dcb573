import asyncio
import os
import uuid

from convex import ConvexClient

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")
client = ConvexClient(url)
# Two lists of our own, so that the script can run again.
run = uuid.uuid4().hex[:6]
here, there = f"here-{run}", f"there-{run}"
task = client.mutation("tasks:add", {"list": here, "title": "suitcase"})
subscriptions = [client.subscribe("tasks:in_list", {"list": name}) for name in (here, there)]


def move_it_around():
    for i in range(1, 21):
        client.mutation("tasks:move", {"id": task, "to": there if i % 2 else here})
    client.mutation("tasks:rename", {"id": task, "title": "suitcase (moved 20 times)"})


async def watch():
    views = 0
    # Each item holds the latest result of every subscription, all at one timestamp.
    async for view in client.watch_all():
        if not view or any(s.id not in view for s in subscriptions):
            continue  # a first result hasn't arrived yet
        titles = [title for s in subscriptions for title in view[s.id]]
        assert len(titles) == 1, f"the task is in {len(titles)} lists at once"
        views += 1
        if titles[0].endswith("(moved 20 times)"):
            return views


async def main():
    mover = asyncio.create_task(asyncio.to_thread(move_it_around))
    views = await asyncio.wait_for(watch(), timeout=30)
    await mover
    print(f"{views} views, each with the suitcase in exactly one list")


asyncio.run(main())
