// The security capability: login rate limits and the hash-linked audit log.
export { type AuditEvent, type AuditLog, createAuditLog } from "./audit-log.ts";
export { createLoginLimiter, type LoginLimiter } from "./login-limiter.ts";
