// Placeholder composition root; replaced by the real CLI shortly.
import { VERSION } from "./version.ts";

const cmd = process.argv[2] ?? "run";
if (cmd === "version") console.log(`kiana ${VERSION}`);
