import { ConvexHttpClient } from "convex/browser";

const client = new ConvexHttpClient("http://127.0.0.1:3210");
await client.mutation("messages:send", { author: "node", body: "hello from JavaScript" });
console.log(await client.query("stats:count", {}));
console.log(await client.query("messages:list", {}));
