import { ConvexClient } from "convex/browser";
import { anyApi as api } from "convex/server";

const client = new ConvexClient(process.env.LIVEBASE_URL ?? "http://127.0.0.1:3210");
let firstResult;
const ready = new Promise((resolve) => (firstResult = resolve));

const unsubscribe = client.onUpdate(api.tasks.in_list, { list: "errands" }, (titles) => {
  console.log("errands:", titles.join(", ") || "(none)");
  firstResult();
});
await ready;
// Resolves once the subscription above has received the new list.
await client.mutation(api.tasks.add, { list: "errands", title: "post the letter" });
unsubscribe();
await client.close();
