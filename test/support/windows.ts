/** Starts "windows" (test/support/windowProcess.ts) and other support processes as child processes and waits for their reports. */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import type { WindowReport, WindowTask } from './windowProcess';

/**
 * Runs the support script `script` (a compiled test/support module) as a child process, sends it
 * `task` and resolves with the report it sends back before it exits.
 */
export function runChild<R>(script: string, task: unknown): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, script), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let report: R | undefined;
    child.on('message', (m: R) => (report = m));
    // 'close', not 'exit': Node may emit 'exit' before the child's last IPC message is delivered.
    child.on('close', (code) => (report ? resolve(report) : reject(new Error(`${script} exited ${code} without a report`))));
    child.send(task as object);
  });
}

export function runWindow(task: WindowTask): Promise<WindowReport> {
  return runChild('windowProcess.js', task);
}

/** `count` windows running the same task at once, each in its own process. */
export function runWindows(count: number, task: WindowTask): Promise<WindowReport[]> {
  return Promise.all(Array.from({ length: count }, () => runWindow(task)));
}

/** What the windows' callers met, added up. */
export function sumReports(reports: WindowReport[]): { calls: number; missing: number; windowErrors: string[] } {
  return {
    calls: reports.reduce((a, r) => a + r.calls, 0),
    missing: reports.reduce((a, r) => a + r.missing, 0),
    windowErrors: reports.flatMap((r) => r.errors),
  };
}
