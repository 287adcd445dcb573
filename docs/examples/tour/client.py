from convex.http_client import ConvexHttpClient

client = ConvexHttpClient("http://127.0.0.1:3210")
client.mutation("messages:send", {"author": "python", "body": "hello from Python"})
for message in client.query("messages:list"):
    print(message["author"], message["body"])
