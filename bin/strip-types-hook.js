// Loaded by bin/criu-compat (node --import) when criu-compat is installed as a
// dependency: Node strips TypeScript types natively, but refuses to for files
// under node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING). This hook
// strips them for this package's own .ts files only, the same erasable-syntax
// stripping Node does in a checkout, so the package runs without a build step.
import { readFileSync } from 'node:fs';
import { registerHooks, stripTypeScriptTypes } from 'node:module';

const root = new URL('../', import.meta.url).href;

registerHooks({
  load(url, context, nextLoad) {
    if (!url.startsWith(root) || !url.endsWith('.ts') || url.slice(root.length).includes('node_modules/')) return nextLoad(url, context);
    const source = stripTypeScriptTypes(readFileSync(new URL(url), 'utf8'), { mode: 'strip', sourceUrl: url });
    return { format: 'module', source, shortCircuit: true };
  },
});
