// What the benchmark (bench/, not shipped) reads of the server: the SQLite driver seam, to read a
// Scheduler's file as ground truth. Not a public API.
export { openSqlite, type SqliteDatabase } from "./store/sqlite/driver.js";
