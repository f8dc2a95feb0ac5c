// The few SQLite operations the store (and the tools that read its file) use, over two drivers:
//
// - node:sqlite, built into Node (unflagged since 22.13; what is needed here since 22.16 and 24).
//   The default wherever it is usable: nothing to compile, and nothing that breaks when Node's
//   native ABI moves on.
// - better-sqlite3, a native addon: the only driver on Node 20. Version 12 aborts the process on
//   Node 24 (a Statement freed by the garbage collector calls node::RemoveEnvironmentCleanupHook
//   with no Environment: SIGABRT), and 13 requires Node 22, so it is used on Node 20, or on 22
//   before 22.16, and only where it is known to work.
//
// The interface is better-sqlite3's own, cut down to what is used, so its objects pass through
// untouched on Node 20; node:sqlite gets a thin adapter that behaves the same: errors carry SQLite's
// extended result-code name in `code` ('SQLITE_FULL', 'SQLITE_CONSTRAINT_UNIQUE', ...), `undefined`
// binds as NULL, extra named parameters are ignored, BLOBs come back as Buffers, nested
// transactions become savepoints.
// ORCHESTRATOR_SQLITE_DRIVER=node:sqlite|better-sqlite3 overrides the choice (for measuring).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";
import { sqliteResultCodeName } from "./result-codes.js";

export type SqliteDriverName = "node:sqlite" | "better-sqlite3";
export const sqliteDriverNames: readonly SqliteDriverName[] = ["node:sqlite", "better-sqlite3"];

export interface SqliteRunResult {
  changes: number | bigint;
  lastInsertRowid: number | bigint;
}

export interface SqliteStatement {
  run(...params: unknown[]): SqliteRunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  /** From now on each row is its first column's value. */
  pluck(): SqliteStatement;
}

export interface SqliteDatabase {
  readonly driver: SqliteDriverName;
  readonly open: boolean;
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  /** `PRAGMA <text>`: every row, or with `simple` the first column of the first row. */
  pragma(text: string, options?: { simple?: boolean }): unknown;
  /**
   * Wraps `body` in a transaction (a savepoint when one is already open): committed when it
   * returns, rolled back when it throws.
   */
  transaction<A extends unknown[], R>(body: (...args: A) => R): (...args: A) => R;
  close(): void;
}

export interface OpenSqliteOptions {
  readonly?: boolean;
  /** Refuse to create the file (a read-only open never creates it). */
  fileMustExist?: boolean;
  /** Default: ORCHESTRATOR_SQLITE_DRIVER, else node:sqlite where usable, else better-sqlite3. */
  driver?: SqliteDriverName;
}

const driverEnvironmentVariable = "ORCHESTRATOR_SQLITE_DRIVER";
/** better-sqlite3's own default busy timeout, kept for both drivers. */
const busyTimeoutMs = 5000;
/** better-sqlite3 is built with SQLITE_DEFAULT_CACHE_SIZE=-16000 (16 MiB of page cache); Node's SQLite with SQLite's -2000. */
const cacheSizePragma = "cache_size = -16000";

export function openSqlite(path: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  const driver = options.driver ?? defaultSqliteDriver();
  if (driver === "node:sqlite") return NodeSqliteDatabase.open(path, options);
  return new BetterSqliteDatabase(new (loadBetterSqlite3())(path, { readonly: options.readonly ?? false, fileMustExist: options.fileMustExist ?? false }));
}

/** The driver openSqlite uses when none is asked for. */
export function defaultSqliteDriver(): SqliteDriverName {
  const requested = process.env[driverEnvironmentVariable];
  if (requested) {
    if (!(sqliteDriverNames as readonly string[]).includes(requested)) {
      throw new Error(`${driverEnvironmentVariable} is "${requested}"; use one of ${sqliteDriverNames.join(", ")}`);
    }
    return requested as SqliteDriverName;
  }
  return nodeSqlite() ? "node:sqlite" : "better-sqlite3";
}

/** The drivers that work on this Node with what is installed (the tests run against each). */
export function usableSqliteDrivers(): SqliteDriverName[] {
  return sqliteDriverNames.filter((name) => (name === "node:sqlite" ? nodeSqlite() !== null : betterSqlite3Problem() === null));
}

// --- better-sqlite3 -------------------------------------------------------------------------------

const require = createRequire(import.meta.url);
const nodeMajor = Number(process.versions.node.split(".")[0]);
let betterSqlite3Module: typeof BetterSqlite3 | undefined;
let betterSqlite3Failure: string | null | undefined;

/** Why better-sqlite3 cannot be used here, or null when it can. */
function betterSqlite3Problem(): string | null {
  if (betterSqlite3Failure !== undefined) return betterSqlite3Failure;
  try {
    const version = String((require("better-sqlite3/package.json") as { version: string }).version);
    if (nodeMajor >= 24 && Number(version.split(".")[0]) < 13) {
      betterSqlite3Failure = `better-sqlite3 ${version} aborts the process on Node ${process.versions.node} (fixed in 13)`;
    } else {
      betterSqlite3Module = require("better-sqlite3") as typeof BetterSqlite3;
      betterSqlite3Failure = null;
    }
  } catch (error) {
    const missing = (error as { code?: unknown }).code === "MODULE_NOT_FOUND";
    betterSqlite3Failure = missing
      ? "better-sqlite3 is not installed (an optional dependency: if its build failed, see `npm rebuild better-sqlite3`)"
      : `better-sqlite3 does not load (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
  }
  return betterSqlite3Failure;
}

function loadBetterSqlite3(): typeof BetterSqlite3 {
  const problem = betterSqlite3Problem();
  if (problem !== null || !betterSqlite3Module) {
    throw new Error(`No SQLite driver for Node ${process.versions.node}: node:sqlite needs Node 22.16 or newer, and ${problem ?? "better-sqlite3 is missing"}`);
  }
  return betterSqlite3Module;
}

/** better-sqlite3's objects already have this interface; only the driver's name is added. */
class BetterSqliteDatabase implements SqliteDatabase {
  readonly driver = "better-sqlite3";

  constructor(private readonly db: BetterSqlite3.Database) {}

  get open(): boolean {
    return this.db.open;
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  prepare(sql: string): SqliteStatement {
    return this.db.prepare(sql);
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  pragma(text: string, options?: { simple?: boolean }): unknown {
    return this.db.pragma(text, options);
  }

  transaction<A extends unknown[], R>(body: (...args: A) => R): (...args: A) => R {
    return this.db.transaction(body);
  }

  close(): void {
    this.db.close();
  }
}

// --- node:sqlite ----------------------------------------------------------------------------------

// The part of node:sqlite used here (this project's @types/node is Node 20's, which has none).
interface NodeStatementSync {
  run(...params: unknown[]): SqliteRunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  setAllowUnknownNamedParameters(enabled: boolean): void;
  setReturnArrays(enabled: boolean): void;
}

interface NodeDatabaseSync {
  readonly isOpen: boolean;
  readonly isTransaction: boolean;
  prepare(sql: string): NodeStatementSync;
  exec(sql: string): void;
  close(): void;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => NodeDatabaseSync;
  StatementSync: { prototype: Partial<NodeStatementSync> };
}

let nodeSqliteModule: NodeSqliteModule | null | undefined;

/** node:sqlite if this Node has it with everything used here (22.16+, 24), else null. */
function nodeSqlite(): NodeSqliteModule | null {
  if (nodeSqliteModule !== undefined) return nodeSqliteModule;
  nodeSqliteModule = null;
  try {
    const sqlite = withoutSqliteExperimentalWarning(() => require("node:sqlite") as NodeSqliteModule);
    if (typeof sqlite.StatementSync.prototype.setAllowUnknownNamedParameters !== "function") return null;
    const probe = new sqlite.DatabaseSync(":memory:");
    const complete = typeof probe.isTransaction === "boolean" && typeof probe.isOpen === "boolean";
    probe.close();
    if (complete) nodeSqliteModule = sqlite;
  } catch {
    // Node 20, or 22 before 22.13 without --experimental-sqlite.
  }
  return nodeSqliteModule;
}

/**
 * Node 22 prints "ExperimentalWarning: SQLite is an experimental feature" on the first load of
 * node:sqlite, in every service and CLI run. That one warning is dropped; any other passes.
 */
function withoutSqliteExperimentalWarning<T>(load: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const first = rest[0];
    const type = typeof first === "string" ? first : (first as { type?: string } | undefined)?.type;
    const message = typeof warning === "string" ? warning : warning.message;
    if (type === "ExperimentalWarning" && message.startsWith("SQLite is an experimental feature")) return;
    Reflect.apply(emitWarning, process, [warning, ...rest]);
  } as typeof process.emitWarning;
  try {
    return load();
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** node:sqlite's errors carry `errcode` (a number) and `code` 'ERR_SQLITE_ERROR'; give `code` the name better-sqlite3 would. */
function withResultCodeName(error: unknown): unknown {
  if (error instanceof Error) {
    const errcode = (error as { errcode?: unknown }).errcode;
    if (typeof errcode === "number") (error as Error & { code: string }).code = sqliteResultCodeName(errcode);
  }
  return error;
}

/** better-sqlite3 binds `undefined` as NULL; node:sqlite refuses it. */
function bindable(params: unknown[]): unknown[] {
  for (let index = 0; index < params.length; index++) {
    const value = params[index];
    if (value === undefined) params[index] = null;
    else if (typeof value === "object" && value !== null && !ArrayBuffer.isView(value)) params[index] = withoutUndefined(value as Record<string, unknown>);
  }
  return params;
}

function withoutUndefined(named: Record<string, unknown>): Record<string, unknown> {
  for (const key in named) {
    if (named[key] === undefined) {
      const copy: Record<string, unknown> = {};
      for (const name in named) copy[name] = named[name] ?? null;
      return copy;
    }
  }
  return named;
}

/**
 * better-sqlite3 returns BLOBs as Buffers, node:sqlite as plain Uint8Arrays; Buffers (views of the
 * same memory, no copy) keep every caller's `toString("utf8")` and deep-equality checks the same.
 */
function asBuffer(value: unknown): unknown {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

function withBuffers(row: unknown): unknown {
  if (typeof row !== "object" || row === null) return row;
  const columns = row as Record<string, unknown>;
  for (const key in columns) {
    if (columns[key] instanceof Uint8Array) columns[key] = asBuffer(columns[key]);
  }
  return row;
}

class NodeSqliteStatement implements SqliteStatement {
  private plucked = false;

  constructor(private readonly statement: NodeStatementSync) {
    statement.setAllowUnknownNamedParameters(true);
  }

  run(...params: unknown[]): SqliteRunResult {
    try {
      return this.statement.run(...bindable(params));
    } catch (error) {
      throw withResultCodeName(error);
    }
  }

  get(...params: unknown[]): unknown {
    try {
      const row = this.statement.get(...bindable(params));
      if (row === undefined) return row;
      return this.plucked ? asBuffer((row as unknown[])[0]) : withBuffers(row);
    } catch (error) {
      throw withResultCodeName(error);
    }
  }

  all(...params: unknown[]): unknown[] {
    try {
      const rows = this.statement.all(...bindable(params));
      return this.plucked ? rows.map((row) => asBuffer((row as unknown[])[0])) : rows.map(withBuffers);
    } catch (error) {
      throw withResultCodeName(error);
    }
  }

  *iterate(...params: unknown[]): IterableIterator<unknown> {
    try {
      for (const row of this.statement.iterate(...bindable(params))) yield this.plucked ? asBuffer((row as unknown[])[0]) : withBuffers(row);
    } catch (error) {
      throw withResultCodeName(error);
    }
  }

  pluck(): SqliteStatement {
    this.statement.setReturnArrays(true);
    this.plucked = true;
    return this;
  }
}

class NodeSqliteDatabase implements SqliteDatabase {
  readonly driver = "node:sqlite";
  private readonly controlStatements: Record<"begin" | "commit" | "rollback" | "savepoint" | "release" | "rollbackToSavepoint", NodeStatementSync>;

  static open(path: string, options: OpenSqliteOptions): NodeSqliteDatabase {
    const sqlite = nodeSqlite();
    if (!sqlite) throw new Error(`node:sqlite is not usable on Node ${process.versions.node} (it needs 22.16 or newer)`);
    if (options.fileMustExist && path !== ":memory:" && !existsSync(path)) {
      throw Object.assign(new Error(`unable to open database file: ${path} does not exist`), { code: "SQLITE_CANTOPEN" });
    }
    let db: NodeDatabaseSync;
    try {
      db = new sqlite.DatabaseSync(path, { readOnly: options.readonly ?? false });
    } catch (error) {
      throw withResultCodeName(error);
    }
    return new NodeSqliteDatabase(db);
  }

  private constructor(private readonly db: NodeDatabaseSync) {
    this.pragma(`busy_timeout = ${busyTimeoutMs}`);
    this.pragma(cacheSizePragma);
    // One name for every level, as better-sqlite3 does: ROLLBACK TO and RELEASE act on the innermost.
    const savepoint = '"orchestrator.transaction"';
    this.controlStatements = {
      begin: db.prepare("BEGIN"),
      commit: db.prepare("COMMIT"),
      rollback: db.prepare("ROLLBACK"),
      savepoint: db.prepare(`SAVEPOINT ${savepoint}`),
      release: db.prepare(`RELEASE ${savepoint}`),
      rollbackToSavepoint: db.prepare(`ROLLBACK TO ${savepoint}`),
    };
  }

  get open(): boolean {
    return this.db.isOpen;
  }

  get inTransaction(): boolean {
    return this.db.isOpen && this.db.isTransaction;
  }

  prepare(sql: string): SqliteStatement {
    try {
      return new NodeSqliteStatement(this.db.prepare(sql));
    } catch (error) {
      throw withResultCodeName(error);
    }
  }

  exec(sql: string): void {
    try {
      this.db.exec(sql);
    } catch (error) {
      throw withResultCodeName(error);
    }
  }

  pragma(text: string, options?: { simple?: boolean }): unknown {
    const statement = this.prepare(`PRAGMA ${text}`);
    return options?.simple ? statement.pluck().get() : statement.all();
  }

  transaction<A extends unknown[], R>(body: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      const nested = this.db.isTransaction;
      this.control(nested ? "savepoint" : "begin");
      try {
        const result = body(...args);
        if (result instanceof Promise) throw new TypeError("a transaction's body cannot be async: it would commit before the promise settles");
        this.control(nested ? "release" : "commit");
        return result;
      } catch (error) {
        // SQLite may have rolled the transaction back itself (SQLITE_FULL, SQLITE_IOERR, ...).
        if (this.db.isTransaction) {
          if (nested) {
            this.control("rollbackToSavepoint");
            this.control("release");
          } else {
            this.control("rollback");
          }
        }
        throw error;
      }
    };
  }

  close(): void {
    this.db.close();
  }

  private control(step: keyof NodeSqliteDatabase["controlStatements"]): void {
    try {
      this.controlStatements[step].run();
    } catch (error) {
      throw withResultCodeName(error);
    }
  }
}
