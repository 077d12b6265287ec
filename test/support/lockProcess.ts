/**
 * One contender for the cross-window lock, in its own process (for test/unit/fileLock.test.ts):
 * takes the product's lock (WindowLock.run) again and again for `durationMs`, and
 * inside it creates a marker file exclusively; a marker that already exists means another
 * process holds the lock at the same time. Reports over IPC.
 */
import { promises as fs } from 'node:fs';
import { WindowLock } from '../../src/core/storage/windowLock';

export interface LockTask {
  dir: string;
  name: string;
  marker: string;
  durationMs: number;
  staleLockMs: number;
}

export interface LockReport {
  acquisitions: number;
  /** Times this process found another holder inside the lock. */
  overlaps: number;
  errors: string[];
}

async function run(task: LockTask): Promise<LockReport> {
  const lock = new WindowLock(task.dir, task.name, { staleLockMs: task.staleLockMs, pollMs: 2 });
  const report: LockReport = { acquisitions: 0, overlaps: 0, errors: [] };
  const end = Date.now() + task.durationMs;
  while (Date.now() < end) {
    try {
      await lock.run(async () => {
        report.acquisitions++;
        try {
          await (await fs.open(task.marker, 'wx')).close();
        } catch {
          report.overlaps++;
          return;
        }
        await new Promise((r) => setTimeout(r, Math.random() * 4));
        await fs.unlink(task.marker);
      });
    } catch (err) {
      report.errors.push(err instanceof Error ? err.message : String(err));
    }
  }
  return report;
}

process.on('message', (task: LockTask) => {
  run(task).then(
    (report) => process.send!(report, () => process.exit(0)),
    (err: unknown) => process.send!({ acquisitions: 0, overlaps: 0, errors: [String(err)] }, () => process.exit(1)),
  );
});
