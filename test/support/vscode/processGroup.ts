/**
 * Processes the launcher starts: each in its own process group with a clean environment, so that
 * stopping it also ends whatever it forked (the VS Code server's extension hosts, pty host, file
 * watcher) by the one pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sleep } from './async';

/**
 * Our environment minus what a surrounding VS Code (integrated terminal, test-electron) or
 * code-server would leak in, plus `extra` (an `undefined` value removes the variable).
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries({ ...process.env, ...extra })) {
    if (value === undefined) continue;
    if (!(key in extra) && (/^(VSCODE_|ELECTRON_)/.test(key) || ['NODE_OPTIONS', 'PASSWORD', 'HASHED_PASSWORD'].includes(key))) continue;
    env[key] = value;
  }
  return env;
}

/** Starts `command` in its own process group, stdout and stderr appended to `logFile`. */
export function spawnGroup(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string; logFile: string }): ChildProcess {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  try {
    return spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', log, log] });
  } finally {
    fs.closeSync(log);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

/**
 * SIGTERM to the group `child` leads; once the leader has exited (at most `graceMs`) its
 * children get another `graceMs` to leave, then whatever is left gets SIGKILL.
 */
export async function stopGroup(child: ChildProcess, options: { graceMs?: number; log?: (line: string) => void } = {}): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const grace = options.graceMs ?? 5000;
  const running = child.exitCode === null && child.signalCode === null;
  const exited = running ? new Promise<void>((resolve) => child.once('exit', () => resolve())) : Promise.resolve();
  if (!signalGroup(pgid, 'SIGTERM')) return;
  await Promise.race([exited, sleep(grace)]);
  for (const end = Date.now() + grace; Date.now() < end && signalGroup(pgid, 0); ) await sleep(100);
  if (signalGroup(pgid, 0)) {
    options.log?.(`some processes of ${path.basename(child.spawnfile)} (group ${pgid}) ignored SIGTERM; sending SIGKILL`);
    signalGroup(pgid, 'SIGKILL');
  }
}

/** The last `lines` lines of a log file ('' when unreadable). */
export function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
