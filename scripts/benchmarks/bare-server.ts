// Baseline for scripts/bench/startup.ts: the smallest Bun server that answers /healthz like kiana,
// compiled with the same Bun and flags. Takes the same arguments: `run --port <N>`.
const argv = process.argv.slice(2);
const port = Number(argv[argv.indexOf("--port") + 1]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: bare-server run --port <N>");
  process.exit(2);
}

Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req) {
    if (new URL(req.url).pathname === "/healthz") return Response.json({ status: "ok" });
    return new Response("not found", { status: 404 });
  },
});
