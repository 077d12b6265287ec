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
