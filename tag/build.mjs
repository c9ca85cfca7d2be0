// Minify the tag reproducibly and write it, with its manifest, where the collector serves it.
//
// Usage: node build.mjs [--out DIR]   (default DIR: src/heliograph/collector/static)
// The same source and the same pinned esbuild always give the same bytes, so anyone can rebuild
// the tag and compare it with what a Heliograph server hands out.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { transform } from 'esbuild';

const GZIP_BUDGET = 2048;
const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, 'src', 'heliograph.js');
const defaultOut = join(here, '..', 'src', 'heliograph', 'collector', 'static');

function outDir(argv) {
  const at = argv.indexOf('--out');
  if (at === -1) return defaultOut;
  if (!argv[at + 1]) throw new Error('--out needs a directory');
  return resolve(argv[at + 1]);
}

const digest = (algorithm, data, encoding) => createHash(algorithm).update(data).digest(encoding);

async function main() {
  const out = outDir(process.argv.slice(2));
  const input = await readFile(source);
  const { version } = JSON.parse(await readFile(join(here, 'package.json'), 'utf8'));
  const { code } = await transform(input.toString('utf8'), {
    loader: 'js',
    minify: true,
    target: 'es2017',
    legalComments: 'none',
    sourcemap: false,
    charset: 'ascii', // served bytes must not depend on the embedding page's encoding
  });
  const built = Buffer.from(code, 'utf8');
  // A gzip stream carries no name or time from Node's zlib, so its size is deterministic.
  const gzipBytes = gzipSync(built, { level: 9 }).length;
  if (gzipBytes > GZIP_BUDGET) {
    throw new Error(`tag is ${gzipBytes} bytes gzip, over the ${GZIP_BUDGET}-byte budget`);
  }
  const manifest = {
    version,
    bytes: built.length,
    gzip_bytes: gzipBytes,
    sha384: 'sha384-' + digest('sha384', built, 'base64'),
    source_sha256: digest('sha256', input, 'hex'),
  };
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'heliograph.js'), built);
  await writeFile(join(out, 'heliograph.manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.log(`${join(out, 'heliograph.js')}: ${built.length} bytes, ${gzipBytes} bytes gzip`);
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
