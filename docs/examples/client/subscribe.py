import os

from livebase import api
from livebase.client import Client

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")

with Client(url) as client, client.subscribe(api.messages.count) as count:
    before = next(count)  # the first result
    client.mutation(api.messages.send, {"author": "bob", "body": "hi"})
    # mutation() has returned, so the subscription already shows the write.
    print("count went from", before, "to", count.value)
    print("next result:", next(count))  # the same change, from the iterator
