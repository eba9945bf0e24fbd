/**
 * The page that runs pipelines on the visitor's GPU.
 *
 * usage: deno task web [--build DIR] [--port N]
 *   (no flag)   build the page into a temporary folder and serve it; prints its URL
 *   --build     write the static page into DIR (any static host serves it) and exit
 *   --port      port to serve on (default 8123; 0 picks a free one)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { buildPage } from "./build.ts";

const USAGE = "usage: deno task web [--build DIR] [--port N]";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  yaml: "text/plain; charset=utf-8",
};

/** Serves the files of `dir` on `port`; resolves with the server once it listens. */
export function serveFolder(dir: string, port: number, onListen: (url: string) => void): Deno.HttpServer {
  return Deno.serve({
    port,
    hostname: "127.0.0.1",
    onListen: ({ port }) => onListen(`http://localhost:${port}/`),
  }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    const file = path === "/" ? "index.html" : path.slice(1);
    if (file.split("/").some((part) => part === ".." || part === "")) {
      return new Response("not found", { status: 404 });
    }
    try {
      const body = await Deno.readFile(`${dir}/${file}`);
      const type = TYPES[file.slice(file.lastIndexOf(".") + 1)] ?? "application/octet-stream";
      return new Response(body, { headers: { "content-type": type, "cache-control": "no-store" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

/** Runs the command on `args`; returns the exit code, or never returns while serving. */
export async function main(args: string[]): Promise<number> {
  let o;
  try {
    o = parseArgs({ args, options: { build: { type: "string" }, port: { type: "string", default: "8123" } } })
      .values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be a port number, found ${o.port}\n${USAGE}`);
    return 2;
  }
  const dir = o.build ?? await Deno.makeTempDir({ prefix: "mixtune_web_" });
  let built;
  try {
    built = await buildPage(dir);
  } catch (e) {
    console.error(`web: the page did not build: ${(e as Error).message.split("\n")[0]}`);
    return 1;
  }
  const app = built.files.find((f) => f.path === "app.js")!.bytes;
  console.log(`built ${built.files.length} files in ${dir}: app.js ${kb(app)}, ${kb(built.bytes)} in all`);
  if (o.build !== undefined) return 0;
  const server = serveFolder(
    dir,
    port,
    (url) => console.log(`mixtune in the browser: ${url} (Ctrl-C stops)`),
  );
  // the build folder is temporary: Ctrl-C removes it
  Deno.addSignalListener("SIGINT", () => {
    Deno.removeSync(dir, { recursive: true });
    Deno.exit(0);
  });
  await server.finished;
  return 0;
}

function kb(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
