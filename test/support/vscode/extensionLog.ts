/** The logs of a real VS Code run, for suites in its extension host (OIDC_TEST_VSCODE_LOGS). */
import * as fs from 'node:fs';
import * as path from 'node:path';

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(full) : [full];
  });
}

/** The text of this extension's log channel and of the extension host's log. */
export function logs(): { extension: string; host: string } {
  const files = filesUnder(process.env.OIDC_TEST_VSCODE_LOGS ?? '');
  const read = (f: string | undefined) => (f ? fs.readFileSync(f, 'utf8') : '');
  return {
    extension: read(files.find((f) => f.includes('oidc-auth.oidc-auth') && f.endsWith('.log'))),
    host: files.filter((f) => /exthost/i.test(f) && f.endsWith('.log')).map(read).join('\n'),
  };
}

/** Waits (bounded) until the extension's log has a line matching `re` (channels flush asynchronously). */
export async function logged(re: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = logs().extension.split('\n').find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`the extension never logged ${re}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
