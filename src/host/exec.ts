import { spawn } from 'node:child_process';
import { vardError } from '../errors/index.ts';
import type { RunOptions, RunResult } from './types.ts';

const SECRETISH = /(password|passwd|secret|token)=\S+/gi;

/** Redacts obvious secrets from text that goes into errors and logs. */
export function redact(s: string): string {
  return s.replace(SECRETISH, '$1=***');
}

/** Spawns an argv without a shell; shared by the local and netns transports. */
export function execArgv(hostName: string, argv: readonly string[], opts: RunOptions = {}, display: readonly string[] = argv): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(vardError('VARD_ERR_INTERNAL', ['empty argv']));
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills what it forked too (nsenter forks the command
    // into the host's PID namespace; `sh -c` forks its children).
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(vardError('VARD_ERR_COMMAND_FAILED', [hostName, display.join(' '), 'spawn', e.message], { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res: RunResult = {
        exitCode: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        durationMs: Date.now() - started,
      };
      if (res.exitCode !== 0 && !opts.allowFail) {
        const why = (res.stderr.trim() || res.stdout.trim() || (signal ? `killed by ${signal}` : '')).slice(-2000);
        reject(
          vardError('VARD_ERR_COMMAND_FAILED', [hostName, redact(display.join(' ')), res.exitCode, redact(why)], {
            details: { host: hostName, argv: display.map(redact), exitCode: res.exitCode, stderr: redact(res.stderr.slice(-4000)) },
          }),
        );
      } else resolve(res);
    });
    child.stdin.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
