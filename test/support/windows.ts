/** Starts a "window" (test/support/windowProcess.ts) as a child process and waits for its report. */
import { runChild } from './childProcess';
import type { WindowReport, WindowTask } from './windowProcess';

export function runWindow(task: WindowTask): Promise<WindowReport> {
  return runChild('windowProcess.js', task, 'window');
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
