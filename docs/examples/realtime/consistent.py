import os
import threading

from convex import ConvexClient

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")
client = ConvexClient(url)
task = client.mutation("tasks:add", {"list": "home", "title": "pack"})
home = client.subscribe("tasks:in_list", {"list": "home"})
work = client.subscribe("tasks:in_list", {"list": "work"})


def move_it_around():
    for i in range(1, 21):
        client.mutation("tasks:move", {"id": task, "to": "work" if i % 2 else "home"})
    client.mutation("tasks:rename", {"id": task, "title": "packed"})


threading.Thread(target=move_it_around).start()
views = 0
for view in client.watch_all():  # every item: all subscribed results, at one timestamp
    if not view or home.id not in view or work.id not in view:
        continue  # a query's first result hasn't arrived yet
    both = view[home.id]["value"] + view[work.id]["value"]
    assert len(both) == 1, f"the task is in {len(both)} lists at once: {view}"
    views += 1
    if both == ["packed"]:
        break
print(f"{views} views, the task in exactly one list in each")
