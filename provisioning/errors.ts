// Errors of the fleet script, with stable codes like the runtime's (src/errors.ts), kept here because
// provisioning runs on the operator's machine and its codes never cross the runtime's API.

export type ProvisionErrorCode =
  | "PROVISION_USAGE"
  | "PROVISION_INVENTORY_INVALID"
  | "PROVISION_IMAGE_INVALID"
  | "PROVISION_DEVICE_REFUSED"
  | "PROVISION_TOOL_FAILED"
  | "PROVISION_ADOPT_FAILED";

export class ProvisionError extends Error {
  constructor(
    readonly code: ProvisionErrorCode,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ProvisionError";
  }
}

export const provisionError = (code: ProvisionErrorCode, message: string, cause?: unknown) =>
  new ProvisionError(code, message, cause);
