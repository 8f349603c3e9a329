// Errors with stable codes. Every capability builds its errors through `kianaError` so that
// the admin API, the CLI and the health registry can map a code to an answer without parsing text.

export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_UNREADABLE"
  | "STORE_CORRUPT"
  | "STORE_MIGRATION_FAILED"
  | "IDENTITY_KEY_INVALID"
  | "PLATFORM_NOTIFY_FAILED"
  | "ENGINE_MISSING"
  | "ENGINE_LOAD_FAILED"
  | "ADMIN_UNAUTHORIZED"
  | "ADMIN_FORBIDDEN"
  | "ADMIN_BAD_REQUEST"
  | "ADMIN_RATE_LIMITED"
  | "ADMIN_ALREADY_SET_UP"
  | "CLI_USAGE";

export class KianaError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "KianaError";
    this.code = code;
    this.details = Object.freeze({ ...details });
  }
}

export function kianaError(
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): KianaError {
  return new KianaError(code, message, details, cause);
}

export function isKianaError(value: unknown, code?: ErrorCode): value is KianaError {
  return value instanceof KianaError && (code === undefined || value.code === code);
}

/** A one-line description of any thrown value, for logs and health entries. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
