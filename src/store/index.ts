// The store capability: the node's SQLite database.
export { type OpenStoreOptions, openStore, type Store } from "./database.ts";
export { DURABLE_TABLES, MIGRATIONS, type Migration } from "./migrations.ts";
