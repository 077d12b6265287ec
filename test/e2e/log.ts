/**
 * The one way the e2e suites and scripts/screenshots.ts write their progress lines: each line to
 * stdout behind a prefix naming who writes it (no logger, no levels: these are test runs).
 */

/** A progress line writer. */
export type Log = (line: string) => void;

/** Writes each line to stdout behind `prefix`. */
export function prefixedLog(prefix: string): Log {
  return (line) => {
    process.stdout.write(`${prefix}${line}\n`);
  };
}

/** A suite's lines, indented under mocha's test titles and tagged: `      [tag] line`. */
export function suiteLog(tag: string): Log {
  return prefixedLog(`      [${tag}] `);
}
