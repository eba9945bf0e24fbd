/** Deno's file system behind the core's {@link Files} interface. */
import type { Files } from "./files.ts";

/** The {@link Files} of the Deno runtime. */
export function denoFiles(): Files {
  return {
    readFile: (p) => Deno.readFile(p),
    readTextFile: (p) => Deno.readTextFile(p),
    readFileSync: (p) => Deno.readFileSync(p),
    readTextFileSync: (p) => Deno.readTextFileSync(p),
    writeFile: (p, data) => Deno.writeFile(p, data),
    writeTextFile: (p, text) => Deno.writeTextFile(p, text),
    mkdir: (p) => Deno.mkdir(p, { recursive: true }),
    stat: (p) => Deno.stat(p),
    statSync: (p) => Deno.statSync(p),
    readDir: (p) => Deno.readDir(p),
    readDirSync: (p) => [...Deno.readDirSync(p)],
    openSync: (p) => {
      const f = Deno.openSync(p);
      return {
        size: () => f.statSync().size,
        readAt: (into, position) => {
          f.seekSync(position, Deno.SeekMode.Start);
          return f.readSync(into) ?? 0;
        },
        close: () => f.close(),
      };
    },
    cwd: () => Deno.cwd(),
    notFound: (e) => e instanceof Deno.errors.NotFound,
    denied: (e) => e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied,
  };
}
