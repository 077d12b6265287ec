/** Starts a "window" (test/support/windowProcess.ts) as a child process and waits for its report. */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import type { WindowReport, WindowTask } from './windowProcess';

export function runWindow(task: WindowTask): Promise<WindowReport> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'windowProcess.js'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let report: WindowReport | undefined;
    child.on('message', (m: WindowReport) => (report = m));
    // 'close', not 'exit': Node may emit 'exit' before the child's last IPC message is delivered.
    child.on('close', (code) => (report ? resolve(report) : reject(new Error(`window exited ${code} without a report`))));
    child.send(task);
  });
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
