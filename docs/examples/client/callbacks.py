import os
import threading

from livebase.client import Client

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")
seen_bye = threading.Event()


def show(messages):
    # Runs on the client's background thread, once per new result.
    newest = messages[0]["body"] if messages else None
    print(f"{len(messages)} messages, newest: {newest}")
    if newest == "bye":
        seen_bye.set()


with Client(url) as client:
    subscription = client.subscribe("messages:list", on_update=show, on_error=print)
    client.mutation("messages:send", {"author": "cy", "body": "bye"})
    seen_bye.wait(timeout=10)
    subscription.close()
