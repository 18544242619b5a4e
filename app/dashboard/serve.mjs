// A tiny static server for the dashboard (no dependencies): serves this folder, with the right
// MIME type for .wasm so browsers can stream-compile the engine.
//
//   node app/dashboard/serve.mjs [--port 8080] [--host 127.0.0.1]
//
// The engine bindings live in pkg/, written by scripts/build-wasm.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ts": "text/plain; charset=utf-8",
};

/** Starts the server; resolves to `{ server, url }` once it listens (port 0 = any free port). */
export function serve({ port = 8080, host = "127.0.0.1", root = HERE } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      let file = normalize(join(base, path));
      if (file !== base && !file.startsWith(base + sep)) {
        res.writeHead(403).end("forbidden");
        return;
      }
      if ((await stat(file).catch(() => null))?.isDirectory()) file = join(file, "index.html");
      // Only the page's own files: no node_modules, no tests.
      const rel = file.slice(base.length + 1);
      if (rel.startsWith("node_modules") || rel.startsWith("test")) {
        res.writeHead(404).end("not found");
        return;
      }
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  return new Promise((done, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      done({ server, url: `http://${host}:${actual}/` });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
  };
  if (!existsSync(join(HERE, "pkg", "risk_wasm.js"))) {
    console.error("serve: app/dashboard/pkg/ is missing: run scripts/build-wasm first");
  }
  const { url } = await serve({
    port: Number(arg("--port", process.env.PORT ?? 8080)),
    host: arg("--host", "127.0.0.1"),
  });
  console.log(`risk dashboard: ${url}  (Ctrl-C to stop)`);
}
