import { readdirSync, readFileSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Where `npm run build` puts the page (vite, from packages/server/dashboard/): dist/dashboard/public. */
export const defaultPublicDir = fileURLToPath(new URL("./public/", import.meta.url));

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

interface StaticFile {
  body: Buffer;
  contentType: string;
  cacheControl: string;
}

/**
 * The built page, read into memory once (a few files of some tens of KiB): index.html is never
 * cached, so a new build is picked up at once; files under assets/ have a content hash in their
 * names, so they are cached for good. Null when the page was not built (the API still works).
 */
export function loadStaticFiles(dir: string): ReadonlyMap<string, StaticFile> | null {
  let names: string[];
  try {
    names = listFiles(dir);
  } catch {
    return null;
  }
  if (!names.includes("index.html")) return null;
  const files = new Map<string, StaticFile>();
  for (const name of names) {
    const path = `/${name.split(sep).join("/")}`;
    files.set(path, {
      body: readFileSync(join(dir, name)),
      contentType: contentTypes[extname(name)] ?? "application/octet-stream",
      cacheControl: path.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
    });
  }
  return files;
}

function listFiles(dir: string, root = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path, root) : [relative(root, path)];
  });
}

/** Answers a static file; "/" is index.html. False when there is no such file. */
export function sendStaticFile(files: ReadonlyMap<string, StaticFile>, path: string, response: ServerResponse): boolean {
  const file = files.get(path === "/" ? "/index.html" : path);
  if (!file) return false;
  response.writeHead(200, {
    "content-type": file.contentType, "cache-control": file.cacheControl, "content-length": file.body.byteLength,
    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
    // Everything the page loads is its own: no CDN, no inline script, no framing by other sites.
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  });
  response.end(response.req.method === "HEAD" ? undefined : file.body);
  return true;
}
