import contextlib
import os

from livebase.client import Client

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")

with Client(url) as client:
    bread = client.mutation("tasks:add", {"list": "home", "title": "buy bread"})
    client.mutation("tasks:add", {"list": "home", "title": "water plants"})
    invoice = client.mutation("tasks:add", {"list": "work", "title": "send invoice"})

    watched = {
        "home": client.subscribe("tasks:in_list", {"list": "home"}),
        "work": client.subscribe("tasks:in_list", {"list": "work"}),
        "first_two": client.subscribe("tasks:first_two"),
        "open_count": client.subscribe("tasks:open_count"),
        "bread": client.subscribe("tasks:describe", {"id": bread}),
    }
    for name, subscription in watched.items():
        print(f"{name}: {next(subscription)}")

    def pushed(after):
        """Print the new results the last mutation caused. When mutation()
        returns, every result it changed has already arrived."""
        print(f"after {after}:")
        for name, subscription in watched.items():
            with contextlib.suppress(TimeoutError):  # raised if no new result
                print(f"    {name}: {subscription.next(timeout=0)}")

    client.mutation("tasks:add", {"list": "work", "title": "book train"})
    pushed("adding a work task")
    client.mutation("tasks:rename", {"id": invoice, "title": "send invoice #12"})
    pushed("renaming a work task")
    client.mutation("tasks:complete", {"id": bread})
    pushed("completing 'buy bread'")
