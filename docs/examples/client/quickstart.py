import os

from livebase.client import Client

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")

with Client(url) as client:
    client.mutation("messages:send", {"author": "ada", "body": "Hello!"})
    for message in client.query("messages:list"):
        print(f"{message['author']}: {message['body']}")
