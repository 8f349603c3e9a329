// The admin capability: the LAN admin page and HTTP API.
export { ADMIN_USER, createAccounts, MIN_PASSWORD_LENGTH } from "./accounts.ts";
export { type AdminApp, type AdminAppDeps, type AdminStatus, createAdminApp } from "./app.ts";
export type { AdminFleet } from "./fleet-routes.ts";
export { createSetupCodeKeeper, type SetupCodeKeeper } from "./setup-code.ts";
