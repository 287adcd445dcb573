import os

from livebase.client import AppErrorResponse, Client, FunctionError

url = os.environ.get("LIVEBASE_URL", "http://127.0.0.1:3210")

with Client(url) as client:
    try:
        client.mutation("messages:send", {"author": "", "body": "who am I?"})
    except AppErrorResponse as e:  # the function raised AppError(data)
        print("refused:", e.data)
    try:
        client.query("messages:nope")
    except FunctionError as e:  # any other failure
        print("failed:", e.message.splitlines()[-1])
