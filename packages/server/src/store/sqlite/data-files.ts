import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";

/** The database and the two files SQLite keeps beside it in WAL mode. */
export function databaseFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`];
}

/**
 * Makes the data directory and database file private before SQLite opens them: tasks' payloads and
 * results are readable by whoever reads these files. A new directory is made 0700; an existing one
 * keeps its mode (an operator may have chosen 0750 for a backup group), see looseDirectoryWarning.
 * The database file is created 0600, and SQLite gives the -wal and -shm files it creates the mode of
 * the database file; existing files (from a version that did not do this) are tightened to 0600.
 */
export function prepareDatabaseFiles(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // "a" creates the file if it is missing and never truncates it; the mode applies only on creation.
  closeSync(openSync(path, "a", 0o600));
  for (const file of databaseFiles(path)) {
    const mode = modeOf(file);
    if (mode !== null && (mode & 0o077) !== 0) chmodSync(file, 0o600);
  }
}

/**
 * A warning when every local user may enter or read the data directory (e.g. 0755), else null. A
 * group-only mode such as 0750 is taken as the operator's choice.
 */
export function looseDirectoryWarning(directory: string): string | null {
  const mode = modeOf(directory);
  if (mode === null || (mode & 0o007) === 0) return null;
  return `the data directory ${directory} has mode ${mode.toString(8).padStart(4, "0")}, so every local user can list it; `
    + `the database files in it are 0600, but consider chmod 700 ${directory}`;
}

function modeOf(path: string): number | null {
  try {
    return statSync(path).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}
