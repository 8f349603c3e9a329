// Field shapes shared by the config sections.
import { Type as T } from "@sinclair/typebox";

export const Port = (def: number, description: string) =>
  T.Integer({ minimum: 0, maximum: 65535, default: def, description: `${description} 0 picks a free port.` });
