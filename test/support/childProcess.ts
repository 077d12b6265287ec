/** A test helper process (a "window", a lock contender) run as a child: one task in, one report back. */
import { fork } from 'node:child_process';
import * as path from 'node:path';

/**
 * Forks `script` (a compiled file in test/support), sends it `task` and resolves with the last
 * message it sent before it closed; a child that closes without one rejects, naming `what`.
 */
export function runChild<Task, Report>(script: string, task: Task, what: string): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, script), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let report: Report | undefined;
    child.on('message', (m) => (report = m as Report));
    // 'close', not 'exit': Node may emit 'exit' before the child's last IPC message is delivered.
    child.on('close', (code) => (report ? resolve(report) : reject(new Error(`${what} exited ${code} without a report`))));
    child.send(task as object);
  });
}
