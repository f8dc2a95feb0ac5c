import { readFileSync } from "node:fs";
import { OrchestratorError } from "../errors/orchestrator-error.js";

/** Why a file could not be read, from its error code alone: Node's own message repeats the path. */
function whyUnreadable(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "there is no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a folder";
    case "ENAMETOOLONG":
      return "the name is too long for a path";
    default:
      return code ?? "it is unreadable";
  }
}

/**
 * Reads the file a setting names: a key file, a certificate, a private key. The error names the
 * setting and why the read failed, never the setting's value: a key or a PEM given by mistake
 * where its file's path belongs must not end up on a terminal, in a log or in CI output.
 * `setting` is how the user gave it ("--api-key-file (or ORCHESTRATOR_API_KEY_FILE)"); `hint`
 * says what it takes instead.
 */
export function readSettingFile(path: string, setting: string, hint: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw OrchestratorError.invalidArgument(`cannot read the file given to ${setting}: ${whyUnreadable(error)}. ${hint}`);
  }
}
