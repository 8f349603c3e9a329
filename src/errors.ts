// Errors with stable codes. Every capability builds its errors through `kianaError` so that
// the admin API, the CLI and the health registry can map a code to an answer without parsing text.

export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_UNREADABLE"
  | "SEED_INVALID"
  | "FIRSTBOOT_FAILED"
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
  | "CLI_USAGE"
  | "IDENTITY_ENCODING_INVALID"
  | "IDENTITY_CERT_INVALID"
  | "IDENTITY_PUBKEY_INVALID"
  | "IDENTITY_FLEET_EXISTS"
  | "IDENTITY_FLEET_INVALID"
  | "MESH_ENVELOPE_INVALID"
  | "MESH_DIRECT_INVALID"
  | "MESH_TRANSPORT_CLOSED"
  | "MESH_MQTT_UNAVAILABLE"
  | "MESH_SUBSCRIBE_DENIED"
  | "BROKER_CONFIG_INVALID"
  | "BROKER_BINARY_MISSING"
  | "BROKER_PORT_IN_USE"
  | "BROKER_START_FAILED"
  | "MESH_PUBLISH_DENIED"
  | "MESH_PEER_UNKNOWN"
  | "TRANSFER_OFFER_INVALID"
  | "TRANSFER_PATH_UNAVAILABLE"
  | "TRANSFER_STALLED"
  | "TRANSFER_FAILED"
  | "TRANSFER_HASH_MISMATCH"
  | "TRANSFER_UNAUTHORIZED"
  | "TRANSFER_SOURCE_INVALID"
  | "TRANSFER_SOURCE_MISSING"
  | "TRANSFER_REFUSED"
  | "CHAIN_BAD_BLOCK"
  | "CHAIN_BAD_PROOF"
  | "CHAIN_BAD_SIGNATURE"
  | "CHAIN_APPEND_CONFLICT"
  | "CHAIN_UNKNOWN_AUTHOR"
  | "CHAIN_SYNC_REFUSED"
  | "CHAIN_SYNC_PROTOCOL"
  | "CHAIN_SYNC_UNAVAILABLE"
  | "CHAIN_VOTE_INVALID"
  | "CHAIN_CHECKPOINT_INVALID"
  | "CHAIN_NOT_VALIDATOR"
  | "MODEL_FILE_INVALID"
  | "MODEL_NOT_FOUND"
  | "MODEL_HASH_MISMATCH"
  | "MODEL_DOES_NOT_FIT"
  | "MODEL_ENGINE_FAILED"
  | "FEDAVG_NOT_READY"
  | "FEDAVG_ROUND_RUNNING";

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
