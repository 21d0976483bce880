/**
 * The one interface every action on a host goes through. Three implementations: local (this
 * machine), netns (a lab host) and ssh (a real server). No call site knows which it has.
 */

export interface RunOptions {
  /** Written to the command's standard input. */
  readonly input?: string | Buffer;
  /** Kill the command after this many milliseconds (default 60 s). */
  readonly timeoutMs?: number;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Return a non-zero exit instead of throwing VARD_ERR_COMMAND_FAILED. */
  readonly allowFail?: boolean;
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface WriteOptions {
  readonly mode?: number;
}

export interface Host {
  /** The host's name in the topology. */
  readonly name: string;
  /** Runs an argv array (never a shell string). Throws VARD_ERR_COMMAND_FAILED on a non-zero exit unless `allowFail`. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** The file's bytes, or undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Writes atomically: a temporary file beside the target, then a rename. Creates parent directories. */
  writeFile(path: string, data: string | Buffer, opts?: WriteOptions): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Creates or atomically replaces a symbolic link at `path` pointing to `target`. */
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
  mkdir(path: string, opts?: { mode?: number }): Promise<void>;
  /** Names in a directory, or [] when it does not exist. */
  list(path: string): Promise<string[]>;
  remove(path: string, opts?: { recursive?: boolean }): Promise<void>;
  /** Releases connections (ssh); a no-op elsewhere. */
  close(): Promise<void>;
}
