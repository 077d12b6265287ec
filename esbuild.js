// Bundles the extension into dist/extension.js, and the `oidc-token` command-line tool (run in
// the integrated terminal, see src/cli/main.ts) into dist/oidc-token.js. oauth4webapi is ESM-only; bundling it into one
// CommonJS file lets every VS Code (desktop Electron, remote and web server hosts) load it.
const esbuild = require('esbuild');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
// `--metafile=FILE` writes esbuild's metafile (what each input adds to the bundle) for bench/bundle.ts.
const metafileArg = process.argv.find((a) => a.startsWith('--metafile='));

async function main() {
  // Both bundles: one CommonJS file for Node 20 (desktop Electron, remote and web server hosts).
  const common = {
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    minify: production,
    // Source maps are written beside the bundle for debugging and kept out of the .vsix; the
    // production bundle does not name its map (the .vsix has none to find).
    sourcemap: production ? 'external' : true,
    sourcesContent: false,
    external: ['vscode'],
    logLevel: 'warning',
    // Non-ASCII text (the ellipsis of "Signing in…") as UTF-8 rather than \u escapes: Node reads sources as UTF-8.
    charset: 'utf8',
  };
  const ctx = await esbuild.context({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', metafile: Boolean(metafileArg) });
  // The command-line tool: plain Node, no `vscode`, none of the protocol code (it only talks to the window).
  const cli = await esbuild.context({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/oidc-token.js' });
  if (watch) {
    await Promise.all([ctx.watch(), cli.watch()]);
  } else {
    const [result] = await Promise.all([ctx.rebuild(), cli.rebuild()]);
    if (metafileArg) require('node:fs').writeFileSync(metafileArg.slice('--metafile='.length), JSON.stringify(result.metafile));
    await Promise.all([ctx.dispose(), cli.dispose()]);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
